import Foundation
import Synchronization

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
    public static var capacityBytes: Int {
        get { state.withLock { $0.capacityBytes } }
        set { state.withLock { $0.capacityBytes = newValue } }
    }

    /// Everything the pool holds, behind one lock.
    struct State {
        var capacityBytes = 256 << 20
        var free: [Int: [UnsafeMutablePointer<Float>]] = [:]
        var order: [(count: Int, pointer: UnsafeMutablePointer<Float>)] = []
        var parkedBytes = 0
    }
    private static let state = Locked(State())
    private static let live = Atomic<Int>(0)
    private static let peakLive = Atomic<Int>(0)

    /// Bytes of tensor storage alive now (handed out by ``allocate(_:)`` and not yet released; parked buffers excluded).
    public static var liveBytes: Int { live.load(ordering: .relaxed) }

    /// The largest ``liveBytes`` since the last ``resetPeakLiveBytes()`` — the tensors a computation needed at once,
    /// independent of the allocator's caching (what PyTorch's `max_memory_allocated` reports).
    public static var peakLiveBytes: Int { peakLive.load(ordering: .relaxed) }

    /// Starts a new ``peakLiveBytes`` measurement from the bytes alive now.
    public static func resetPeakLiveBytes() { peakLive.store(liveBytes, ordering: .relaxed) }

    /// A 64-byte aligned, uninitialised buffer of `count` floats.
    public static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        let now = live.add(count * 4, ordering: .relaxed).newValue
        peakLive.max(now, ordering: .relaxed)
        if count >= minimumPooledCount {
            let recycled = state.withLock { pool -> UnsafeMutablePointer<Float>? in
                guard let pointer = pool.free[count]?.popLast() else { return nil }
                if let index = pool.order.firstIndex(where: { $0.pointer == pointer }) { pool.order.remove(at: index) }
                pool.parkedBytes -= count * 4
                return pointer
            }
            if let recycled { return recycled }
        }
        var raw: UnsafeMutableRawPointer?
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        let status = posix_memalign(&raw, 64, bytes)
        precondition(status == 0 && raw != nil, "out of memory allocating \(bytes) bytes")
        return raw!.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    /// Returns a buffer obtained from ``allocate(_:)`` with the same `count`.
    public static func release(_ pointer: UnsafeMutablePointer<Float>, count: Int) {
        live.subtract(count * 4, ordering: .relaxed)
        guard count >= minimumPooledCount else { Foundation.free(pointer); return }
        let evicted = state.withLock { pool -> [UnsafeMutablePointer<Float>] in
            guard count * 4 <= pool.capacityBytes else { return [pointer] }
            pool.free[count, default: []].append(pointer)
            pool.order.append((count, pointer))
            pool.parkedBytes += count * 4
            var evicted: [UnsafeMutablePointer<Float>] = []
            while pool.parkedBytes > pool.capacityBytes, !pool.order.isEmpty {
                let oldest = pool.order.removeFirst()
                if var list = pool.free[oldest.count], let index = list.firstIndex(of: oldest.pointer) {
                    list.remove(at: index)
                    pool.free[oldest.count] = list
                }
                pool.parkedBytes -= oldest.count * 4
                evicted.append(oldest.pointer)
            }
            return evicted
        }
        for pointer in evicted { Foundation.free(pointer) }
    }

    /// Frees every parked buffer.
    public static func drain() {
        let pointers = state.withLock { pool -> [UnsafeMutablePointer<Float>] in
            let pointers = pool.order.map(\.pointer)
            pool.free = [:]
            pool.order = []
            pool.parkedBytes = 0
            return pointers
        }
        for pointer in pointers { Foundation.free(pointer) }
    }
}
