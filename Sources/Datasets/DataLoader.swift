import Foundation
import ImageIO
import Tensor

/// A batch: `a` is `[N, C, H, W]`; `b` likewise when the dataset has targets.
public struct Batch {
    public var a: Tensor
    public var b: Tensor?
    public var pathsA: [String]
    public var pathsB: [String]
    /// Dataset indices of the samples, in batch order.
    public var indices: [Int]

    public init(a: Tensor, b: Tensor?, pathsA: [String] = [], pathsB: [String] = [], indices: [Int] = []) {
        self.a = a
        self.b = b
        self.pathsA = pathsA
        self.pathsB = pathsB
        self.indices = indices
    }
}

/// What the loader does with a sample it cannot load.
public enum LoadFailurePolicy: String, Sendable, CaseIterable {
    /// Leave it out of its batch and report it through the warning handler.
    case skip
    /// Stop: the iterator throws the error, which names the file.
    case fail
}

/// Shuffles (seeded), batches, and decodes and transforms on background threads with a bounded queue.
///
/// Every random choice of a sample comes from a generator seeded by (seed, epoch, position), so an
/// epoch's batches are identical whatever the number of workers or their timing.
///
/// Data-parallel training: replica r of R visits positions r, r + R, r + 2R, … of the epoch's order, padded by
/// wrapping to a multiple of R (as PyTorch's `DistributedSampler`), so every replica has the same number of batches
/// and batch k of the R replicas together holds positions k·R·B ..< (k + 1)·R·B — one process's batch of R·B.
public final class DataLoader: @unchecked Sendable {
    public let dataset: any Dataset
    public let batchSize: Int
    public let shuffle: Bool
    public let seed: UInt64
    public let workers: Int
    public let prefetchBatches: Int
    public let failurePolicy: LoadFailurePolicy
    /// This loader's replica (0 ..< ``replicas``) in data-parallel training.
    public let replica: Int
    public let replicas: Int
    public let warning: @Sendable (String) -> Void

    public init(dataset: any Dataset, batchSize: Int = 1, shuffle: Bool = true, seed: UInt64 = 0, workers: Int = 2,
                prefetchBatches: Int = 4, failurePolicy: LoadFailurePolicy = .skip, replica: Int = 0, replicas: Int = 1,
                warning: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data(("warning: " + $0 + "\n").utf8)) }) {
        precondition(batchSize >= 1 && workers >= 1 && prefetchBatches >= 1 && replicas >= 1 && (0..<replicas).contains(replica),
                     "invalid loader configuration")
        self.dataset = dataset
        self.batchSize = batchSize
        self.shuffle = shuffle
        self.seed = seed
        self.workers = workers
        self.prefetchBatches = prefetchBatches
        self.failurePolicy = failurePolicy
        self.replica = replica
        self.replicas = replicas
        self.warning = warning
    }

    /// Number of batches per epoch (the last one may be smaller).
    public var batchCount: Int { (positionCount + batchSize - 1) / batchSize }

    /// Samples this replica visits per epoch: ⌈count / replicas⌉.
    var positionCount: Int { (dataset.count + replicas - 1) / replicas }

    /// A reproducible 64-bit mix of the loader seed with other integers (SplitMix64 finaliser).
    static func mix(_ values: UInt64...) -> UInt64 {
        values.reduce(0x9E37_79B9_7F4A_7C15) { state, value in
            var z = (state ^ value) &+ 0x9E37_79B9_7F4A_7C15
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// The dataset indices of `epoch` in visiting order.
    public func order(epoch: Int) -> [Int] {
        var indices = Array(0..<dataset.count)
        guard shuffle else { return indices }
        let generator = RandomGenerator(seed: DataLoader.mix(seed, UInt64(epoch), 0xD1CE))
        for position in stride(from: indices.count - 1, to: 0, by: -1) {
            indices.swapAt(position, generator.nextInt(below: position + 1))
        }
        return indices
    }

    /// Iterates the batches of `epoch`; workers start at once and stop when the iterator is released.
    public func batches(epoch: Int) -> BatchIterator { BatchIterator(loader: self, epoch: epoch) }

    /// Builds batch `number` of an epoch whose order is `order`; nil when every sample was skipped.
    func makeBatch(_ number: Int, order: [Int], epoch: Int) throws -> Batch? {
        var samples: [(Int, Sample)] = []
        for local in (number * batchSize)..<Swift.min((number + 1) * batchSize, positionCount) {
            // The seed takes the unwrapped position, so a wrapped sample gets its own crop and flip.
            let position = local * replicas + replica
            let index = order[position % order.count]
            let generator = RandomGenerator(seed: DataLoader.mix(seed, UInt64(epoch), UInt64(position), 0x5A17))
            do {
                samples.append((index, try dataset.sample(at: index, generator: generator)))
            } catch {
                if failurePolicy == .fail { throw error }
                warning("skipping sample \(index): \(error)")
            }
        }
        guard let first = samples.first?.1 else { return nil }
        for (index, sample) in samples where sample.a.shape != first.a.shape {
            throw DatasetError.unreadableImage(.unsupported(
                path: sample.pathA, reason: "sample \(index) is \(sample.a.shape) but its batch needs \(first.a.shape); use a crop or batch size 1"))
        }
        let a = Tensor.concatenated(samples.map { $0.1.a }, axis: 0)
        let targets = samples.compactMap { $0.1.b }
        let b = targets.count == samples.count ? Tensor.concatenated(targets, axis: 0) : nil
        return Batch(a: a, b: b, pathsA: samples.map { $0.1.pathA }, pathsB: samples.compactMap { $0.1.pathB },
                     indices: samples.map { $0.0 })
    }
}

/// Delivers an epoch's batches in order while worker threads prepare up to `prefetchBatches` ahead.
public final class BatchIterator {
    final class State: @unchecked Sendable {
        let condition = NSCondition()
        var nextToStart = 0
        var consumed = 0
        var results: [Int: Result<Batch?, Error>] = [:]
        var cancelled = false
    }

    let state = State()
    let total: Int

    init(loader: DataLoader, epoch: Int) {
        let order = loader.order(epoch: epoch)
        total = loader.batchCount
        let state = self.state, total = self.total
        for _ in 0..<Swift.min(loader.workers, Swift.max(total, 1)) {
            let thread = Thread {
                while true {
                    state.condition.lock()
                    while !state.cancelled && state.nextToStart < total && state.nextToStart >= state.consumed + loader.prefetchBatches {
                        state.condition.wait()
                    }
                    if state.cancelled || state.nextToStart >= total { state.condition.unlock(); return }
                    let number = state.nextToStart
                    state.nextToStart += 1
                    state.condition.unlock()
                    let result = Result { try loader.makeBatch(number, order: order, epoch: epoch) }
                    state.condition.lock()
                    state.results[number] = result
                    state.condition.broadcast()
                    state.condition.unlock()
                }
            }
            thread.start()
        }
    }

    deinit {
        state.condition.lock()
        state.cancelled = true
        state.condition.broadcast()
        state.condition.unlock()
    }

    /// The next batch, or nil at the end of the epoch. Throws a sample's error under the `fail` policy.
    public func nextBatch() throws -> Batch? {
        while true {
            state.condition.lock()
            guard state.consumed < total else { state.condition.unlock(); return nil }
            while state.results[state.consumed] == nil { state.condition.wait() }
            let result = state.results.removeValue(forKey: state.consumed)!
            state.consumed += 1
            state.condition.broadcast()
            state.condition.unlock()
            if let batch = try result.get() { return batch }
        }
    }
}
