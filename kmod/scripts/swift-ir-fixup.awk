# SPDX-License-Identifier: GPL-2.0-or-later
#
# Rewrites the LLVM IR that swiftc emits for the module's Swift code into IR
# that builds like the kernel's own C. Run as: awk -f this.awk in.ll in.ll
# (two passes over the same file), with the kernel's settings as variables
# (Kbuild derives them from the flags it gives the C compiler):
#   -v return_thunk=1       -mfunction-return=thunk-extern (return thunks)
#   -v patchable_prefix=N   -fpatchable-function-entry=N+E,N (call padding,
#   -v patchable_entry=E    CONFIG_CALL_PADDING from 6.2)
# swiftc's IRGen turns most kernel flags (-Xcc -mno-sse ...) into target
# features, but not all of them:
#  - every function definition gets fn_ret_thunk_extern (returns through
#    __x86_return_thunk) when the kernel uses return thunks, the kernel's
#    call padding (patchable-function-prefix/-entry) and no jump tables
#    (indirect jumps would need retpolines);
#  - definitions whose attribute group has no target features (Embedded
#    runtime functions such as swift_retain) get the module's target CPU and
#    features and noredzone, or they would use SSE, the red zone and bare
#    indirect calls;
#  - +x87 becomes -x87: floating point then fails to link instead of silently
#    using the FPU in the kernel;
#  - private functions become internal (private ones get no ELF symbol and
#    objtool reports them as falling through);
#  - the Embedded runtime's weak definitions (swift_slowAlloc, swift_retain,
#    swift_once...) become internal, so the optimizer drops the ones no code
#    calls. The module's Swift never allocates through the runtime (a failed
#    runtime allocation traps; overlay memory comes from platformAllocate),
#    and this keeps it so: a call that creeps in leaves posix_memalign or
#    free undefined, and modpost fails the build;
#  - $e... symbols become _$e...: kallsyms hides names that start with '$',
#    so an oops backtrace would name the wrong function;
#  - swifterror parameters and allocas become plain pointers. Typed throws
#    return the error in %r12, a callee-saved register in the kernel's ABI:
#    a throwing function that spills %r12 and returns an error without
#    reloading it looks to objtool like a corrupt frame ("return with
#    modified stack frame"), and its ORC data would be wrong. As a plain
#    pointer the error travels through memory in the caller's frame, with
#    the same semantics; every caller and callee is in this one IR module;
#  - with -v kasan=1 (a KASAN kernel) every function definition is marked
#    sanitize_address, which Clang's frontend would add for C: without it
#    the kernel-address pass leaves IR functions alone.

# Pass 1: which attribute groups function definitions use, and the target
# attributes to give the groups that have none.
NR == FNR {
	if ($0 ~ /^define / && match($0, / #[0-9]+ \{$/)) {
		group = substr($0, RSTART + 2, RLENGTH - 4)
		definitionGroup[group] = 1
	}
	if (target == "" && $0 ~ /^attributes #/ && match($0, /"target-cpu"="[^"]*"/)) {
		cpu = substr($0, RSTART, RLENGTH)
		if (match($0, /"target-features"="[^"]*"/))
			target = cpu " " substr($0, RSTART, RLENGTH)
	}
	next
}

# Pass 2: rewrite.
{
	line = $0
	gsub(/@"\$e/, "@\"_$e", line)
	gsub(/@\$e/, "@_$e", line)
	sub(/^define private /, "define internal ", line)
	sub(/^define (weak_odr|linkonce_odr) (protected |hidden )?/, "define internal ", line)
	if (line ~ /^@[^ ]+ = (weak_odr|linkonce_odr) /)
		sub(/ = (weak_odr|linkonce_odr) (protected |hidden )?/, " = internal ", line)
	gsub(/ swifterror/, "", line)

	if (line ~ /^attributes #[0-9]+ = \{/) {
		match(line, /^attributes #[0-9]+/)
		group = substr(line, 13, RLENGTH - 12)
		if (group in definitionGroup) {
			extra = "\"no-jump-tables\"=\"true\""
			if (return_thunk)
				extra = "fn_ret_thunk_extern " extra
			if (patchable_prefix + 0 > 0)
				extra = extra " \"patchable-function-prefix\"=\"" (patchable_prefix + 0) "\""
			if (patchable_entry + 0 > 0)
				extra = extra " \"patchable-function-entry\"=\"" (patchable_entry + 0) "\""
			if (kasan == 1)
				extra = extra " sanitize_address"
			if (line !~ /"target-features"=/) {
				if (target == "") {
					print "swift-ir-fixup: no target features to copy" > "/dev/stderr"
					exit 1
				}
				extra = extra " noredzone " target
			}
			sub(/ \}$/, " " extra " }", line)
		}
		gsub(/\+x87/, "-x87", line)
	}
	print line
}
