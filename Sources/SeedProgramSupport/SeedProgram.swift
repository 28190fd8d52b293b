// SPDX-License-Identifier: GPL-2.0-or-later
import MemoryOverlay
import OverlayTestData
