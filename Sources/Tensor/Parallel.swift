import COpenBLAS
import Foundation

/// How the engine spreads work over cores.
///
/// Element-wise and normalisation kernels split their outer loop into contiguous ranges, one per worker
/// (as ggml's `ith/nth`); GEMMs are threaded by OpenBLAS. The two never run at the same time, because
/// every kernel returns before the next starts. Results depend on ``threadCount`` only through
/// OpenBLAS's blocking, so a fixed thread count gives bit-identical runs.
public enum Parallel {
    /// Number of workers for the engine's own kernels and for OpenBLAS.
    public static var threadCount: Int { configured.value }

    /// `STYLIZE_THREADS`, else all cores; OpenBLAS is told the same when it is first read.
    private static let configured: Locked<Int> = {
        let environment = ProcessInfo.processInfo.environment["STYLIZE_THREADS"].flatMap(Int.init)
        let count = max(1, environment ?? ProcessInfo.processInfo.activeProcessorCount)
        openblas_set_num_threads(Int32(count))
        return Locked(count)
    }()

    /// Sets the worker count for both the engine and OpenBLAS.
    public static func setThreadCount(_ count: Int) {
        configured.withLock { value in
            value = max(1, count)
            openblas_set_num_threads(Int32(value))
        }
    }

    /// Runs `body(range)` over `0..<count` split into at most ``threadCount`` contiguous ranges.
    ///
    /// Work below `minimumPerWorker` items per worker runs on the calling thread.
    @inline(__always)
    public static func forEachRange(
        _ count: Int, minimumPerWorker: Int = 1 << 15, _ body: (Range<Int>) -> Void
    ) {
        let workers = min(threadCount, max(1, count / max(minimumPerWorker, 1)))
        if workers <= 1 {
            if count > 0 { body(0..<count) }
            return
        }
        // Workers get disjoint ranges; what `body` captures (raw buffers) is shared read-only or written per range,
        // which the compiler cannot see: hence the unchecked box, here at the one place work crosses threads.
        withoutActuallyEscaping(body) { escapable in
            let shared = UncheckedSendable(escapable)
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                let start = count * worker / workers
                let end = count * (worker + 1) / workers
                if start < end { shared.value(start..<end) }
            }
        }
    }
}

/// A value handed to other threads where the caller guarantees the access pattern is safe (disjoint ranges).
public struct UncheckedSendable<Value>: @unchecked Sendable {
    public let value: Value
    public init(_ value: Value) { self.value = value }
}
