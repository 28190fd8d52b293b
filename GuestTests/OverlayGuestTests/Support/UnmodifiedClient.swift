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
