// SPDX-License-Identifier: GPL-2.0-or-later
import CGuestTestKit
import Glibc
import SystemPackage

/// Which NUMA node holds a page, and moving pages between nodes, as a VMM
/// places guest memory: move_pages(2), mbind(2), migrate_pages(2).
enum NumaPlacement {
    static let bind: Int32 = 2  // MPOL_BIND
    static let defaultPolicy: Int32 = 0  // MPOL_DEFAULT
    /// Move the pages mapped by this process only.
    static let moveOwn: Int32 = 2  // MPOL_MF_MOVE
    /// Move every page, shared ones too (CAP_SYS_NICE).
    static let moveAll: Int32 = 4  // MPOL_MF_MOVE_ALL

    /// The online nodes (from sysfs), in order.
    static func nodes() -> [Int] {
        (0..<64).filter { SystemFiles.exists("/sys/devices/system/node/node\($0)") }
    }

    /// The guest's two first nodes; the scenario fails without a second
    /// (vm/run boots the guests with two, --numa).
    static func requireTwoNodes() throws -> (Int, Int) {
        let online = nodes()
        try require(online.count >= 2, "NUMA nodes \(online): the guest must boot with two (vm/run --numa 2)")
        return (online[0], online[1])
    }

    /// The first CPU of `node` (nil for a node without CPUs).
    static func firstCPU(of node: Int) -> Int32? {
        let list = SystemFiles.read("/sys/devices/system/node/node\(node)/cpulist") ?? ""
        return Int32(list.prefix { $0.isNumber })
    }

    /// The node of each page at `addresses` in process `pid` (0: this one),
    /// or the negative errno move_pages reports for it (-ENOENT: not
    /// present, -EFAULT: no page there).
    static func nodes(of addresses: [UnsafeMutableRawPointer], pid: pid_t = 0) throws -> [Int32] {
        var pages: [UnsafeMutableRawPointer?] = addresses
        var status = [Int32](repeating: Int32.min, count: addresses.count)
        let result = guest_move_pages(pid, UInt(addresses.count), &pages, nil, &status, 0)
        try require(result == 0, "move_pages (query): \(Errno.current)")
        return status
    }

    /// Moves each page at `addresses` to `node` with `flags`; the status of
    /// each page (its node, or a negative errno) and the call's result.
    static func move(_ addresses: [UnsafeMutableRawPointer], to node: Int, flags: Int32) -> (result: Int, errno: Int32, status: [Int32]) {
        var pages: [UnsafeMutableRawPointer?] = addresses
        let targets = [Int32](repeating: Int32(node), count: addresses.count)
        var status = [Int32](repeating: Int32.min, count: addresses.count)
        let result = guest_move_pages(0, UInt(addresses.count), &pages, targets, &status, flags)
        return (result, result < 0 ? errno : 0, status)
    }

    /// mbind(2) of [address, address + length) to `node` (MPOL_BIND) with
    /// `flags`, or back to the default policy: 0 or the errno.
    static func bind(_ address: UnsafeMutableRawPointer, _ length: Int, to node: Int?, flags: Int32) -> Int32 {
        let mask: [UInt] = [node.map { UInt(1) << UInt($0) } ?? 0]
        let result = mask.withUnsafeBufferPointer { mask in
            guard node != nil else { return guest_mbind(address, UInt(length), defaultPolicy, nil, 0, UInt32(flags)) }
            return guest_mbind(address, UInt(length), bind, mask.baseAddress, 64, UInt32(flags))
        }
        return result == 0 ? 0 : errno
    }

    /// migrate_pages(2) of this process from node `from` to node `to`: the
    /// pages it could not move, or the errno (negative).
    static func migrateProcess(from: Int, to: Int) -> Int {
        var old: [UInt] = [UInt(1) << UInt(from)]
        var new: [UInt] = [UInt(1) << UInt(to)]
        let result = guest_migrate_pages(getpid(), 64, &old, &new)
        return result < 0 ? -Int(errno) : result
    }
}
