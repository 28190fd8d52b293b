/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SwiftPM needs one source file in a C target; everything is inline in the
 * header.
 */
#include "CBatchSyscallsBench.h"
