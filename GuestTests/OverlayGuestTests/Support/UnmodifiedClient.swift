// SPDX-License-Identifier: GPL-2.0-or-later
import CGuestTestKit
import Glibc
import GuestTestKit
import MemoryOverlay
import SystemPackage

/// A program the scenarios run unchanged (QEMU, the C stand-in of a VMM):
/// found in the working directory (the guest's /mnt/work, where vm/test
/// ships it) or on PATH.
enum ExternalProgram {
    static func find(_ name: String) -> String? {
        var directories = ["."]
        if let path = getenv("PATH") { directories += String(cString: path).split(separator: ":").map(String.init) }
        for directory in directories where !directory.isEmpty {
            let candidate = directory + "/" + name
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    /// The working directory's absolute path.
    static var workingDirectory: String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX))
        guard getcwd(&buffer, buffer.count) != nil else { return "." }
        return String(cString: buffer)
    }

    /// Starts `path` with `arguments` (and `environment` added to this
    /// process's), in its own process group; its stdout goes to `output`
    /// (or stays this process's), its stderr to `errors` (or `output`),
    /// its stdin comes from `input`; it is killed if the scenario dies
    /// first (its overlay would keep the module loaded). The C strings are made before the
    /// fork: the child only calls async-signal-safe functions.
    static func spawn(_ path: String, _ arguments: [String], environment: [String] = [], input: CInt? = nil,
                      output: CInt? = nil, errors: CInt? = nil) throws -> ChildProcess {
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        var inherited: [String] = []
        var entry = environ
        while let pointer = entry.pointee {
            inherited.append(String(cString: pointer))
            entry += 1
        }
        let envp: [UnsafeMutablePointer<CChar>?] = (inherited + environment).map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        fflush(nil)
        let pid = fork()
        if pid < 0 { throw SysError("fork for \(path)") }
        if pid == 0 {
            setpgid(0, 0)
            _ = batch_syscalls_kill_with_parent()
            if let input { dup2(input, STDIN_FILENO) }
            if let output { dup2(output, STDOUT_FILENO) }
            if let descriptor = errors ?? output { dup2(descriptor, STDERR_FILENO) }
            _ = argv.withUnsafeBufferPointer { arguments in
                envp.withUnsafeBufferPointer { environment in
                    execve(path, arguments.baseAddress!, environment.baseAddress!)
                }
            }
            _exit(127)
        }
        setpgid(pid, pid)
        return ChildProcess(id: pid)
    }
}

/// A client of QEMU's machine protocol (QMP) over a Unix socket: one JSON
/// object a line each way.
final class QMPClient {
    private let fd: CInt
    private var pending: [UInt8] = []

    /// Connects to `path`, retrying for `timeout` seconds (QEMU creates the
    /// socket while it starts), and reads the greeting.
    init(path: String, timeout: Double) throws {
        let deadline = Stopwatch.nowSeconds() + timeout
        while true {
            let socketFD = socket(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
            if socketFD < 0 { throw SysError("socket(AF_UNIX)") }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
                close(socketFD)
                throw TestFailure("QMP socket path too long: \(path)")
            }
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (index, byte) in bytes.enumerated() { raw[index] = byte }
            }
            let connected = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(socketFD, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            if connected == 0 {
                fd = socketFD
                break
            }
            let failure = errno
            close(socketFD)
            if Stopwatch.nowSeconds() > deadline {
                throw TestFailure("connect to QMP socket \(path): \(String(cString: strerror(failure)))")
            }
            Stopwatch.sleep(seconds: 0.05)
        }
        var limit = timeval(tv_sec: Int(max(timeout, 1)), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        let greeting = try readLine()
        guard greeting.contains("\"QMP\"") else { throw TestFailure("QMP greeting: \(greeting)") }
        self.greeting = greeting
    }

    /// QEMU's greeting (its version).
    private(set) var greeting = ""

    deinit { close(fd) }

    /// Sends `command` (one JSON object) and returns the reply: the first
    /// line with "return" or "error" (events before it are skipped).
    @discardableResult
    func execute(_ command: String) throws -> String {
        let line = Array((command + "\n").utf8)
        var sent = 0
        while sent < line.count {
            let count = line.withUnsafeBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, CInt(MSG_NOSIGNAL)) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { throw SysError("send to QMP: \(command)") }
            sent += count
        }
        while true {
            let reply = try readLine()
            if reply.contains("\"error\"") { throw TestFailure("QMP \(command): \(reply)") }
            if reply.contains("\"return\"") { return reply }
        }
    }

    /// One line from QEMU (without its line end).
    func readLine() throws -> String {
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                // QEMU ends its lines with CR LF.
                var end = newline
                if end > pending.startIndex, pending[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                let line = String(decoding: pending[..<end], as: UTF8.self)
                pending.removeSubrange(...newline)
                return line
            }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            if count < 0 { throw SysError("read from QMP") }
            if count == 0 { throw TestFailure("QMP: QEMU closed the socket") }
            pending += buffer[..<count]
        }
    }
}

/// Debian's QEMU, unchanged, stopped before its first instruction (-S),
/// its guest RAM (`-machine pc`) a private mapping of `ramImage`
/// (memory-backend-file, share=off), its monitor a QMP socket.
final class QEMUGuest {
    /// The directory vm/test ships QEMU's firmware and its TCG module in
    /// (absent on a host with QEMU installed: QEMU finds its own).
    static let filesDirectory = "qemu-files"

    let process: ChildProcess
    let monitor: QMPClient
    let target: TargetProcess
    /// The mapping of `ramImage` that holds guest RAM.
    let ram: TargetProcess.Mapping
    private let socketPath: String
    private let logPath: String
    private var ended = false

    /// Starts QEMU and waits for its monitor; nil when no QEMU is found.
    /// The RAM image must be `pages` pages long.
    static func start(ramImage: String, pages: Int) throws -> QEMUGuest? {
        guard let qemu = ExternalProgram.find("qemu-system-x86_64") else { return nil }
        return try QEMUGuest(qemu: qemu, ramImage: ramImage, pages: pages)
    }

    private init(qemu: String, ramImage: String, pages: Int) throws {
        let cwd = ExternalProgram.workingDirectory
        socketPath = "/tmp/qemu-qmp-\(getpid()).sock"
        logPath = "/tmp/qemu-\(getpid()).log"
        unlink(socketPath)
        var arguments: [String] = []
        var environment: [String] = []
        if access(Self.filesDirectory, R_OK) == 0 {
            // Its firmware (SeaBIOS) and its TCG module, shipped by vm/test.
            arguments += ["-L", cwd + "/" + Self.filesDirectory]
            environment.append("QEMU_MODULE_DIR=\(cwd)/\(Self.filesDirectory)")
        }
        let megabytes = (pages * pageSize) >> 20
        arguments += [
            "-S", "-nodefaults", "-display", "none", "-accel", "tcg,tb-size=16",
            "-machine", "pc,memory-backend=ram", "-m", "\(megabytes)M",
            "-object", "memory-backend-file,id=ram,size=\(megabytes)M,mem-path=\(ramImage),share=off",
            "-qmp", "unix:\(socketPath),server=on,wait=off",
        ]
        let log = open(logPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if log < 0 { throw SysError("create \(logPath)") }
        let process = try ExternalProgram.spawn(qemu, arguments, environment: environment, output: log)
        close(log)
        self.process = process
        // Whatever fails from here kills it.
        let (logFile, socketFile) = (logPath, socketPath)
        func stop(_ failure: String) -> TestFailure {
            process.kill(SIGKILL, wholeGroup: true)
            _ = process.wait()
            let output = SystemFiles.read(logFile) ?? ""
            unlink(logFile)
            unlink(socketFile)
            return TestFailure(failure + (output.isEmpty ? "" : "; its output: \(output)"))
        }
        let monitor: QMPClient
        let target: TargetProcess
        do {
            monitor = try QMPClient(path: socketFile, timeout: 120)
            try monitor.execute(#"{"execute":"qmp_capabilities"}"#)
            target = try TargetProcess(processID: process.id)
        } catch {
            throw stop("QEMU (\(qemu) \(arguments.joined(separator: " "))) did not answer: \(error)")
        }
        guard let ram = try? target.mapping(of: FilePath(ramImage)) else {
            throw stop("no mapping of \(ramImage) in /proc/\(process.id)/maps")
        }
        guard ram.fileOffset == 0 && ram.end - ram.start == UInt(pages * pageSize) else {
            throw stop("QEMU's RAM mapping \(hex(ram.start))-\(hex(ram.end)) at offset \(ram.fileOffset): expected \(megabytes) MiB from offset 0")
        }
        self.monitor = monitor
        self.target = target
        self.ram = ram
    }

    deinit {
        if !ended {
            process.kill(SIGKILL, wholeGroup: true)
            _ = process.wait()
        }
        unlink(socketPath)
        unlink(logPath)
    }

    /// What QEMU wrote on stdout and stderr.
    var output: String { SystemFiles.read(logPath) ?? "" }

    /// Guest-physical memory from 0, `pages` pages, as QEMU's monitor
    /// dumps it (pmemsave into `path`).
    func dumpMemory(pages: Int, to path: String) throws -> FileImage {
        try monitor.execute(#"{"execute":"pmemsave","arguments":{"val":0,"size":\#(pages * pageSize),"filename":"\#(path)"}}"#)
        let dump = try FileImage.onDemand(path, name: "QEMU's pmemsave dump")
        guard dump.size == pages * pageSize else { throw TestFailure("the dump holds \(dump.size) bytes, not \(pages) pages") }
        return dump
    }

    /// Asks QEMU to quit and waits for it (killed after 60 s).
    func quit() -> ChildProcess.Ending {
        _ = try? monitor.execute(#"{"execute":"quit"}"#)
        ended = true
        return process.waitOrKill(timeout: 60)
    }
}
