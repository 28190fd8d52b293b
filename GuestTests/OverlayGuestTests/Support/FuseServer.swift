// SPDX-License-Identifier: GPL-2.0-or-later
import CGuestTestKit
import Glibc
import GuestTestKit
import MemoryOverlay
import MemoryOverlayTesting
import Synchronization
import SystemPackage

/// A regular file the FUSE server serves read-only: its contents in each
/// generation (all of one size). The server serves one generation at a time.
struct FuseFile {
    let name: String
    let generations: [FileImage]

    init(_ name: String, _ generations: FileImage...) {
        precondition(!generations.isEmpty && generations.allSatisfy { $0.isLoaded && $0.size == generations[0].size })
        self.name = name
        self.generations = generations
    }
}

/// A minimal read-only FUSE filesystem (the raw protocol over /dev/fuse: the
/// guest has no libfuse): a root directory holding `files`, mounted with
/// mount(2) and served by a child process.
///
/// The scenario process keeps its own descriptor of the connection and sends
/// the notifications from there, never from the server: the kernel handles a
/// FUSE_NOTIFY_INVAL_INODE in the write(2) that sends it, waiting for page
/// locks held by reads that only the server can answer.
///
/// Scenario threads (`ThreadGroup`) share it: what they call reads
/// immutable state or the shared-memory atomic counters, or writes one
/// whole notification to /dev/fuse; `stop()` runs after they are joined.
final class FuseServer: @unchecked Sendable {
    static let devicePath = "/dev/fuse"

    let mountPoint: String
    let files: [FuseFile]
    private let device: Int32
    private let server: ChildProcess
    private let shared: SharedCounters
    private var stopped = false

    /// Node ids: the root is FUSE_ROOT_ID (1), file i is 2 + i.
    private static let firstFileNode: UInt64 = 2
    /// Cache timeouts of names and attributes: the scenarios invalidate them
    /// explicitly (notifications), nothing expires on its own.
    private static let validSeconds: UInt64 = 3600
    private static let maxWrite = 128 << 10
    /// Whole requests are read at once: at least FUSE_MIN_READ_BUFFER (8 KiB)
    /// and a write of max_write bytes with its headers.
    private static let requestBufferSize = maxWrite + (64 << 10)

    /// Opens /dev/fuse, mounts a connection at a new directory under /tmp and
    /// starts the server process. Skips when /dev/fuse is missing or the
    /// kernel refuses the mount (EPERM: not allowed; ENODEV: no FUSE).
    /// Call while one thread runs (it forks).
    static func start(_ files: [FuseFile]) throws -> FuseServer {
        let device = open(devicePath, O_RDWR | O_CLOEXEC)
        if device < 0 {
            if errno == ENOENT { throw SkipScenario("no \(devicePath)") }
            throw SysError("open \(devicePath)")
        }
        let mountPoint = "/tmp/overlay-tests-fuse-\(getpid())"
        if mkdir(mountPoint, 0o755) != 0 && errno != EEXIST {
            let error = Errno.current
            close(device)
            throw SysError("mkdir \(mountPoint)", error)
        }
        let options = "fd=\(device),rootmode=40000,user_id=0,group_id=0,allow_other"
        let mounted = options.withCString {
            mount("batch-syscalls-fuse", mountPoint, "fuse", UInt(MS_NOSUID | MS_NODEV), $0)
        }
        if mounted != 0 {
            let error = Errno.current
            close(device)
            rmdir(mountPoint)
            if error.rawValue == EPERM || error.rawValue == ENODEV {
                throw SkipScenario("cannot mount a FUSE filesystem: \(error)")
            }
            throw SysError("mount fuse at \(mountPoint)", error)
        }
        let shared: SharedCounters
        do {
            shared = try SharedCounters()
        } catch {
            _ = umount2(mountPoint, Int32(MNT_DETACH))
            close(device)
            rmdir(mountPoint)
            throw error
        }
        // The kernel queued FUSE_INIT at the mount; requests wait for its answer.
        let server = ChildProcess.spawn("FUSE server") {
            // Only the connection stays open in the server (not the module's
            // device or the scenario's files): stdin/stdout/stderr and it.
            for fd in Int32(3)..<256 where fd != device { close(fd) }
            FuseServer.serve(device: device, files: files, shared: shared)
        }
        let fuse = FuseServer(mountPoint: mountPoint, files: files, device: device, server: server, shared: shared)
        if server.id < 0 {
            fuse.stop()
            throw TestFailure("could not start the FUSE server")
        }
        return fuse
    }

    private init(mountPoint: String, files: [FuseFile], device: Int32, server: ChildProcess, shared: SharedCounters) {
        self.mountPoint = mountPoint
        self.files = files
        self.device = device
        self.server = server
        self.shared = shared
    }

    func path(_ name: String) -> String { "\(mountPoint)/\(name)" }

    private func index(of name: String) -> Int {
        guard let index = files.firstIndex(where: { $0.name == name }) else { preconditionFailure("no FUSE file \(name)") }
        return index
    }

    private func node(of name: String) -> UInt64 { FuseServer.firstFileNode + UInt64(index(of: name)) }

    /// From now on, reads of `name` that reach the server get `generation`'s
    /// contents (its size and attributes stay; its mtime changes).
    func setGeneration(_ generation: Int, of name: String) {
        precondition(generation < files[index(of: name)].generations.count)
        shared.store(SharedCounters.generation(ofFile: index(of: name)), generation)
    }

    /// How many requests with `opcode` the server received.
    func requests(_ opcode: fuse_opcode) -> Int {
        shared.load(SharedCounters.requests(opcode: opcode.rawValue))
    }

    /// Bytes the server returned to FUSE_READ requests.
    var bytesRead: Int { shared.load(SharedCounters.bytesRead) }

    /// The requests received so far, for a diagnostic line.
    var requestSummary: String {
        let named: [(String, fuse_opcode)] = [
            ("INIT", FUSE_INIT), ("LOOKUP", FUSE_LOOKUP), ("GETATTR", FUSE_GETATTR), ("OPEN", FUSE_OPEN),
            ("READ", FUSE_READ), ("FLUSH", FUSE_FLUSH), ("RELEASE", FUSE_RELEASE), ("FORGET", FUSE_FORGET),
            ("BATCH_FORGET", FUSE_BATCH_FORGET), ("STATFS", FUSE_STATFS), ("ACCESS", FUSE_ACCESS),
        ]
        let counts = named.map { "\($0.0) \(requests($0.1))" }
        return counts.joined(separator: ", ") + ", ENOSYS \(shared.load(SharedCounters.unsupported))"
            + "; \(bytesRead / 1024) KiB read"
    }

    /// FUSE_NOTIFY_INVAL_INODE for all of `name` (offset 0, length 0): the
    /// kernel forgets the file's attributes and drops its page cache
    /// (invalidate_inode_pages2, unmapping pages that are mapped) before the
    /// write returns. 0 or the errno (ENOENT: the kernel has no such inode).
    func invalidateInode(_ name: String) -> Int32 {
        var body = fuse_notify_inval_inode_out()
        body.ino = node(of: name)
        body.off = 0
        body.len = 0
        return notify(FUSE_NOTIFY_INVAL_INODE, withUnsafeBytes(of: &body) { Array($0) })
    }

    /// FUSE_NOTIFY_INVAL_ENTRY for `name` in the root: the kernel drops its
    /// dentry (d_invalidate); the next path walk looks it up again. 0 or the
    /// errno (ENOENT: no dentry of that name is cached).
    func invalidateEntry(_ name: String) -> Int32 {
        var body = fuse_notify_inval_entry_out()
        body.parent = UInt64(FUSE_ROOT_ID)
        body.namelen = UInt32(name.utf8.count)
        body.flags = 0
        return notify(FUSE_NOTIFY_INVAL_ENTRY, withUnsafeBytes(of: &body) { Array($0) } + Array(name.utf8) + [0])
    }

    private func notify(_ code: fuse_notify_code, _ body: [UInt8]) -> Int32 {
        var header = fuse_out_header()
        header.len = UInt32(MemoryLayout<fuse_out_header>.size + body.count)
        header.error = Int32(bitPattern: code.rawValue)  // a notification: unique 0, the code in `error`
        header.unique = 0
        let message = withUnsafeBytes(of: &header) { Array($0) } + body
        while true {
            let n = message.withUnsafeBytes { Glibc.write(device, $0.baseAddress!, $0.count) }
            if n == message.count { return 0 }
            if n < 0 && errno == EINTR { continue }
            return n < 0 ? errno : EIO
        }
    }

    /// Unmounts (lazily if the filesystem is still busy), closes this
    /// process's descriptor of the connection and waits for the server to
    /// exit: the unmount aborts the connection, and its read fails with
    /// ENODEV. Records a failure if the server fails or does not stop.
    func stop() {
        if stopped { return }
        stopped = true
        if umount2(mountPoint, 0) != 0 {
            let error = Errno.current
            if error.rawValue == EBUSY {
                // Something still holds a file of it: the connection lives
                // on until that goes, and the server with it.
                Log.note("umount \(mountPoint): \(error); detaching it (MNT_DETACH)")
            } else {
                Log.fail("umount \(mountPoint): \(error)")
            }
            if umount2(mountPoint, Int32(MNT_DETACH)) != 0 { Log.fail("umount2(\(mountPoint), MNT_DETACH): \(Errno.current)") }
        }
        close(device)
        if server.id > 0 {
            if let status = server.wait(timeout: 10) {
                expect(status.succeeded, "FUSE server: \(status)")
            } else {
                Log.fail("the FUSE server is still running 10 s after the unmount (something still holds a file of the filesystem): killed")
                server.kill()
                _ = server.wait()
            }
        }
        if rmdir(mountPoint) != 0 { Log.fail("rmdir \(mountPoint): \(Errno.current)") }
    }

    // MARK: - The server process

    /// Answers requests until the connection ends (unmounted: ENODEV).
    private static func serve(device: Int32, files: [FuseFile], shared: SharedCounters) {
        let connection = Connection(device: device, files: files, shared: shared)
        connection.run()
    }

    /// The server's side of the connection: one request at a time.
    private final class Connection {
        let device: Int32
        let files: [FuseFile]
        let shared: SharedCounters
        let request = UnsafeMutableRawPointer.allocate(byteCount: FuseServer.requestBufferSize, alignment: 16)
        let reply = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<fuse_out_header>.size + FuseServer.requestBufferSize,
                                                     alignment: 16)
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: pageSize)
        let headerSize = MemoryLayout<fuse_in_header>.size
        let replyHeaderSize = MemoryLayout<fuse_out_header>.size
        var ended = false

        init(device: Int32, files: [FuseFile], shared: SharedCounters) {
            self.device = device
            self.files = files
            self.shared = shared
        }

        func run() {
            while !ended {
                let n = Glibc.read(device, request, FuseServer.requestBufferSize)
                if n < 0 {
                    switch errno {
                    case EINTR, EAGAIN: continue
                    case ENOENT: continue  // the request was interrupted before it was read
                    case ENODEV, ECONNABORTED: return  // unmounted, or the connection was aborted
                    default:
                        Log.fail("FUSE server: read \(FuseServer.devicePath): \(Errno.current)")
                        return
                    }
                }
                guard n >= headerSize else {
                    Log.fail("FUSE server: a request of \(n) bytes")
                    return
                }
                let header = request.loadUnaligned(as: fuse_in_header.self)
                guard Int(header.len) == n else {
                    Log.fail("FUSE server: a request of \(n) bytes says it has \(header.len)")
                    return
                }
                handle(header, argument: request + headerSize, argumentSize: n - headerSize)
            }
        }

        private func handle(_ header: fuse_in_header, argument: UnsafeMutableRawPointer, argumentSize: Int) {
            shared.add(SharedCounters.requests(opcode: header.opcode), 1)
            switch fuse_opcode(rawValue: header.opcode) {
            case FUSE_INIT:
                let input = argument.loadUnaligned(as: fuse_init_in.self)
                guard input.major == UInt32(FUSE_KERNEL_VERSION) else {
                    Log.fail("FUSE server: the kernel speaks FUSE \(input.major).\(input.minor)")
                    send(header, error: EPROTO)
                    return
                }
                var output = fuse_init_out()
                output.major = UInt32(FUSE_KERNEL_VERSION)
                output.minor = min(input.minor, UInt32(FUSE_KERNEL_MINOR_VERSION))
                output.max_readahead = input.max_readahead
                // Reads may be sent while others are pending (the kernel's
                // readahead sends them in the background).
                output.flags = UInt32(FUSE_ASYNC_READ)
                output.max_background = 16
                output.congestion_threshold = 12
                output.max_write = UInt32(FuseServer.maxWrite)
                output.time_gran = 1
                send(header, output)
            case FUSE_LOOKUP:
                let name = String(cString: argument.assumingMemoryBound(to: CChar.self))
                guard header.nodeid == UInt64(FUSE_ROOT_ID), let index = files.firstIndex(where: { $0.name == name }) else {
                    send(header, error: ENOENT)
                    return
                }
                var entry = fuse_entry_out()
                entry.nodeid = FuseServer.firstFileNode + UInt64(index)
                // Constant: a new generation number for a known node id would
                // tell the kernel the node id was reused, and make the inode
                // that open files use bad (EIO).
                entry.generation = 1
                entry.entry_valid = FuseServer.validSeconds
                entry.attr_valid = FuseServer.validSeconds
                entry.attr = attributes(ofNode: entry.nodeid)!
                send(header, entry)
            case FUSE_GETATTR:
                guard let attributes = attributes(ofNode: header.nodeid) else {
                    send(header, error: ENOENT)
                    return
                }
                var output = fuse_attr_out()
                output.attr_valid = FuseServer.validSeconds
                output.attr = attributes
                send(header, output)
            case FUSE_OPEN:
                let input = argument.loadUnaligned(as: fuse_open_in.self)
                guard file(ofNode: header.nodeid) != nil else {
                    send(header, error: header.nodeid == UInt64(FUSE_ROOT_ID) ? EISDIR : ENOENT)
                    return
                }
                guard Int32(input.flags) & O_ACCMODE == O_RDONLY else {
                    send(header, error: EROFS)
                    return
                }
                var output = fuse_open_out()
                output.fh = header.nodeid
                // No FOPEN_KEEP_CACHE: the kernel drops the file's page
                // cache at each open (invalidate_inode_pages2 again).
                output.open_flags = 0
                send(header, output)
            case FUSE_READ:
                let input = argument.loadUnaligned(as: fuse_read_in.self)
                guard let index = file(ofNode: header.nodeid) else {
                    send(header, error: EBADF)
                    return
                }
                answerRead(file: index, offset: Int(input.offset), size: Int(input.size), header)
            case FUSE_FLUSH, FUSE_RELEASE:
                send(header, error: 0)
            case FUSE_FORGET, FUSE_BATCH_FORGET:
                break  // no reply; the nodes are static
            case FUSE_STATFS:
                var output = fuse_statfs_out()
                let bytes = files.reduce(0) { $0 + $1.generations[0].size }
                output.st.blocks = UInt64((bytes + pageSize - 1) / pageSize)
                output.st.files = UInt64(files.count + 1)
                output.st.bsize = UInt32(pageSize)
                output.st.frsize = UInt32(pageSize)
                output.st.namelen = 255
                send(header, output)
            case FUSE_ACCESS:
                let input = argument.loadUnaligned(as: fuse_access_in.self)
                let known = header.nodeid == UInt64(FUSE_ROOT_ID) || file(ofNode: header.nodeid) != nil
                send(header, error: !known ? ENOENT : (Int32(input.mask) & W_OK != 0 ? EROFS : 0))
            case FUSE_DESTROY:
                send(header, error: 0)
                ended = true
            default:
                shared.add(SharedCounters.unsupported, 1)
                send(header, error: ENOSYS)
            }
        }

        private func file(ofNode node: UInt64) -> Int? {
            guard node >= FuseServer.firstFileNode, node - FuseServer.firstFileNode < UInt64(files.count) else { return nil }
            return Int(node - FuseServer.firstFileNode)
        }

        private func generation(ofFile index: Int) -> Int {
            shared.load(SharedCounters.generation(ofFile: index))
        }

        private func attributes(ofNode node: UInt64) -> fuse_attr? {
            var attributes = fuse_attr()
            attributes.ino = node
            attributes.blksize = UInt32(pageSize)
            attributes.mtime = 1_700_000_000
            attributes.ctime = 1_700_000_000
            attributes.atime = 1_700_000_000
            if node == UInt64(FUSE_ROOT_ID) {
                attributes.mode = UInt32(S_IFDIR) | 0o755
                attributes.nlink = 2
                return attributes
            }
            guard let index = file(ofNode: node) else { return nil }
            let size = files[index].generations[0].size
            attributes.mode = UInt32(S_IFREG) | 0o444
            attributes.nlink = 1
            attributes.size = UInt64(size)
            attributes.blocks = UInt64((size + 511) / 512)
            // A file whose contents change gets a new mtime, as on any
            // filesystem (the kernel does not act on it: no FUSE_AUTO_INVAL_DATA).
            attributes.mtime += UInt64(generation(ofFile: index))
            attributes.ctime = attributes.mtime
            return attributes
        }

        /// Up to `size` bytes at `offset` of the generation being served
        /// (short only at the end of the file).
        private func answerRead(file index: Int, offset: Int, size: Int, _ header: fuse_in_header) {
            let image = files[index].generations[generation(ofFile: index)]
            let count = max(0, min(size, image.size - offset, FuseServer.requestBufferSize))
            let data = reply + replyHeaderSize
            var done = 0
            while done < count {
                let position = offset + done
                let chunk = min(pageSize - position % pageSize, count - done)
                do {
                    let page = try image.page(position / pageSize, scratch: scratch)
                    (data + done).copyMemory(from: page + position % pageSize, byteCount: chunk)
                } catch {
                    Log.fail("FUSE server: \(error)")
                    send(header, error: EIO)
                    return
                }
                done += chunk
            }
            shared.add(SharedCounters.bytesRead, count)
            sendReply(header, error: 0, bodySize: count)
        }

        private func send<Body>(_ header: fuse_in_header, _ body: Body) {
            var value = body
            let size = MemoryLayout<Body>.size
            withUnsafeBytes(of: &value) { (reply + replyHeaderSize).copyMemory(from: $0.baseAddress!, byteCount: size) }
            sendReply(header, error: 0, bodySize: size)
        }

        private func send(_ header: fuse_in_header, error: Int32) {
            sendReply(header, error: error, bodySize: 0)
        }

        /// Writes the reply header (`error` as a positive errno, 0 for
        /// success) and the `bodySize` bytes already in place after it.
        private func sendReply(_ request: fuse_in_header, error: Int32, bodySize: Int) {
            var header = fuse_out_header()
            header.len = UInt32(replyHeaderSize + bodySize)
            header.error = -error
            header.unique = request.unique
            withUnsafeBytes(of: &header) { reply.copyMemory(from: $0.baseAddress!, byteCount: replyHeaderSize) }
            while true {
                let n = Glibc.write(device, reply, Int(header.len))
                if n == Int(header.len) { return }
                if n < 0 && errno == EINTR { continue }
                // ENOENT: the request was interrupted or aborted meanwhile.
                if n < 0 && errno == ENOENT { return }
                if n < 0 && (errno == ENODEV || errno == ECONNABORTED) {
                    ended = true
                    return
                }
                Log.fail("FUSE server: reply to opcode \(request.opcode): \(n < 0 ? Errno.current.description : "short write of \(n) bytes")")
                return
            }
        }
    }
}

/// Counters in memory shared between the scenario process and the FUSE
/// server (an anonymous MAP_SHARED mapping made before the fork): the
/// generation each file serves and the requests received.
final class SharedCounters: @unchecked Sendable {
    static let slots = 512
    static let bytesRead = 16
    static let unsupported = 17
    private static let firstOpcodeSlot = 64

    static func generation(ofFile index: Int) -> Int {
        precondition(index < 16, "at most 16 FUSE files")
        return index
    }

    /// The slot counting requests with `opcode` (one slot for all opcodes
    /// past the known ones).
    static func requests(opcode: UInt32) -> Int {
        firstOpcodeSlot + Int(min(opcode, UInt32(slots - firstOpcodeSlot - 1)))
    }

    private let counters: UnsafeMutablePointer<Atomic<Int>>

    init() throws {
        let length = SharedCounters.slots * MemoryLayout<Atomic<Int>>.stride
        guard let raw = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0), raw != MAP_FAILED else {
            throw SysError("mmap shared memory for the FUSE server")
        }
        counters = raw.bindMemory(to: Atomic<Int>.self, capacity: SharedCounters.slots)
        for slot in 0..<SharedCounters.slots { (counters + slot).initialize(to: Atomic(0)) }
    }

    deinit {
        munmap(counters, SharedCounters.slots * MemoryLayout<Atomic<Int>>.stride)
    }

    func load(_ slot: Int) -> Int { counters[slot].load(ordering: .acquiring) }
    func store(_ slot: Int, _ value: Int) { counters[slot].store(value, ordering: .releasing) }
    func add(_ slot: Int, _ value: Int) { counters[slot].add(value, ordering: .relaxed) }
}
