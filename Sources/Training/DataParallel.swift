import Distributed
import Foundation
import NN
import Tensor

/// Data-parallel training over the processes of an MPI job (`mpirun -np N stylize train …`).
///
/// Every rank holds the whole recipe and trains on its share of each batch (``Datasets/DataLoader`` with
/// `replica`/`replicas`); before every optimiser step the gradients are averaged over the ranks (one all-reduce of
/// all of that optimiser's gradients packed in one buffer), so every rank applies the same step and the weights stay
/// identical — checked by a checksum at every save. With instance norm (the GAN recipes' default) N ranks with batch
/// B take the same steps as one process with batch N·B; batch norm keeps per-rank statistics.
public final class DataParallel {
    public let communicator: Communicator
    /// The packed gradients of the latest step (reused while the size stays).
    private var bucket: Tensor?

    public init(_ communicator: Communicator) { self.communicator = communicator }

    public var rank: Int { communicator.rank }
    public var size: Int { communicator.size }

    /// Replaces each of `gradients` by its mean over the ranks.
    public func average(_ gradients: [Tensor]) {
        let total = gradients.reduce(0) { $0 + $1.count }
        guard total > 0 else { return }
        if bucket?.count != total { bucket = Tensor(uninitializedShape: [total]) }
        let packed = bucket!.pointer
        var offset = 0
        for gradient in gradients {
            (packed + offset).update(from: gradient.pointer, count: gradient.count)
            offset += gradient.count
        }
        communicator.sum(packed, count: total)
        let scale = 1 / Float(size)
        offset = 0
        for gradient in gradients {
            let target = gradient.pointer
            for index in 0..<gradient.count { target[index] = packed[offset + index] * scale }
            offset += gradient.count
        }
    }

    /// Copies rank 0's parameters and buffers of `modules` to every rank.
    public func broadcast(_ modules: [String: Module]) {
        for name in modules.keys.sorted() {
            for (_, tensor) in modules[name]!.stateDictionary() { communicator.broadcast(tensor.pointer, count: tensor.count) }
        }
    }

    /// Throws unless every rank holds bit-identical parameters (FNV-1a of their bytes, compared over the ranks).
    public func verifyIdentical(_ modules: [String: Module]) throws {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for name in modules.keys.sorted() {
            for (_, tensor) in modules[name]!.namedParameters() {
                UnsafeRawBufferPointer(start: tensor.pointer, count: tensor.count * 4).forEach { byte in
                    hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
                }
            }
        }
        let hashes = communicator.allGather(hash)
        if let other = hashes.firstIndex(where: { $0 != hashes[0] }) {
            throw DistributedError.diverged("rank \(other)'s parameters differ from rank 0's (checksums \(hashes.map { String($0, radix: 16) }))")
        }
    }

    /// Each loss's mean over the ranks (every rank reports the same names).
    public func mean(_ losses: [String: Float]) -> [String: Float] {
        let names = losses.keys.sorted()
        let sums = communicator.sum(names.map { Double(losses[$0]!) })
        return Dictionary(uniqueKeysWithValues: zip(names, sums.map { Float($0 / Double(size)) }))
    }

    /// True on every rank when it is true on any (a bound or a stop reached by one rank's clock).
    public func any(_ flag: Bool) -> Bool { communicator.maximum([flag ? 1 : 0])[0] > 0 }

    /// The signal any rank received (the largest number), on every rank.
    public func agreedSignal(_ signal: Int32?) -> Int32? {
        let value = communicator.maximum([Double(signal ?? 0)])[0]
        return value > 0 ? Int32(value) : nil
    }

    /// Rank 0 receives every other rank's `buffers` (a CycleGAN's image pools, a reference batch: they differ per
    /// rank) as `rank<r>.<key>`; the others receive nothing. Every rank must hold the same keys and shapes.
    public func gatherBuffers(_ buffers: [String: Tensor]) throws -> [String: Tensor] {
        guard size > 1 else { return [:] }
        let keys = buffers.keys.sorted()
        var description: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in keys.map({ "\($0)\(buffers[$0]!.shape)" }).joined(separator: ";").utf8 { description = (description ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let descriptions = communicator.allGather(description)
        if let other = descriptions.firstIndex(where: { $0 != descriptions[0] }) {
            throw DistributedError.mismatch("rank \(other)'s training buffers (image pools, reference batches) are not shaped as rank 0's")
        }
        var gathered: [String: Tensor] = [:]
        for key in keys {
            let tensor = buffers[key]!
            let all = communicator.isRoot ? Tensor(uninitializedShape: [size] + tensor.shape) : nil
            communicator.gather(tensor.pointer, count: tensor.count, into: all?.pointer)
            guard let all else { continue }
            for other in 1..<size { gathered["rank\(other).\(key)"] = all.sliced(axis: 0, other..<(other + 1)).reshaped(tensor.shape).copied() }
        }
        return gathered
    }

    /// This rank's buffers among those a state restored: rank 0's are the plain keys, rank r's those under `rank<r>.`.
    public func ownBuffers(_ restored: [String: Tensor]) -> [String: Tensor] {
        var own: [String: Tensor] = [:]
        for (key, tensor) in restored {
            let owner = DataParallel.owner(of: key)
            if owner.rank == rank { own[owner.key] = tensor }
        }
        return own
    }

    /// The rank a saved buffer belongs to and its key there (`rank2.pool_A.0` → 2, `pool_A.0`; others → 0).
    static func owner(of key: String) -> (rank: Int, key: String) {
        guard key.hasPrefix("rank"), let dot = key.firstIndex(of: "."),
              let rank = Int(key[key.index(key.startIndex, offsetBy: 4)..<dot]) else { return (0, key) }
        return (rank, String(key[key.index(after: dot)...]))
    }
}
