import Foundation

/// Recycles large float buffers by exact size.
///
/// glibc serves every allocation above 32 MB with a fresh mmap, so a 64 MB activation costs 16,384 page
/// faults and 64 MB of kernel zeroing each time it is created — more than the op that fills it. Freed
/// buffers of at least ``minimumPooledCount`` floats are kept here (up to ``capacityBytes`` in all, oldest
/// freed first) and handed out again for the same size, which repeated forward passes ask for.
public enum BufferPool {
    /// Buffers smaller than this many floats (4 MB) go straight to malloc/free.
    public static let minimumPooledCount = 1 << 20
    /// Upper bound of memory parked in the pool.
    nonisolated(unsafe) public static var capacityBytes = 256 << 20

    nonisolated(unsafe) private static var free: [Int: [UnsafeMutablePointer<Float>]] = [:]
    nonisolated(unsafe) private static var order: [(count: Int, pointer: UnsafeMutablePointer<Float>)] = []
    nonisolated(unsafe) private static var parkedBytes = 0
    private static let lock = NSLock()

    /// A 64-byte aligned, uninitialised buffer of `count` floats.
    public static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count >= minimumPooledCount {
            lock.lock()
            if let pointer = free[count]?.popLast() {
                if let index = order.firstIndex(where: { $0.pointer == pointer }) { order.remove(at: index) }
                parkedBytes -= count * 4
                lock.unlock()
                return pointer
            }
            lock.unlock()
        }
        var raw: UnsafeMutableRawPointer?
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        let status = posix_memalign(&raw, 64, bytes)
        precondition(status == 0 && raw != nil, "out of memory allocating \(bytes) bytes")
        return raw!.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    /// Returns a buffer obtained from ``allocate(_:)`` with the same `count`.
    public static func release(_ pointer: UnsafeMutablePointer<Float>, count: Int) {
        guard count >= minimumPooledCount, count * 4 <= capacityBytes else { Foundation.free(pointer); return }
        lock.lock()
        free[count, default: []].append(pointer)
        order.append((count, pointer))
        parkedBytes += count * 4
        var evicted: [UnsafeMutablePointer<Float>] = []
        while parkedBytes > capacityBytes, !order.isEmpty {
            let oldest = order.removeFirst()
            if var list = free[oldest.count], let index = list.firstIndex(of: oldest.pointer) {
                list.remove(at: index)
                free[oldest.count] = list
            }
            parkedBytes -= oldest.count * 4
            evicted.append(oldest.pointer)
        }
        lock.unlock()
        for pointer in evicted { Foundation.free(pointer) }
    }

    /// Frees every parked buffer.
    public static func drain() {
        lock.lock()
        let pointers = order.map(\.pointer)
        free = [:]
        order = []
        parkedBytes = 0
        lock.unlock()
        for pointer in pointers { Foundation.free(pointer) }
    }
}
