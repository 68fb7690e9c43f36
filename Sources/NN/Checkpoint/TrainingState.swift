import Foundation
import Tensor

/// Everything needed to resume training exactly, in one safetensors file (float32):
/// module state dictionaries under `<module>.`, optimiser moments under `optimizer.<name>.`, and in the
/// metadata the optimiser step counts, integer counters (epoch, iteration, schedule position) and the
/// random generator's state. Other tensors a run carries (a CycleGAN image pool) go in ``buffers``, stored
/// under `buffer.<name>`.
public struct TrainingState {
    public var modules: [String: Module]
    public var optimizers: [String: any Optimizer]
    public var counters: [String: Int]
    public var generator: RandomGenerator
    public var buffers: [String: Tensor]
    /// Free-form facts about the run saved with it (stored as `run.<key>` metadata): how it was started, so that
    /// `--continue` can reuse its options.
    public var runMetadata: [String: String] = [:]

    public init(modules: [String: Module], optimizers: [String: any Optimizer], counters: [String: Int] = [:],
                buffers: [String: Tensor] = [:], generator: RandomGenerator = .shared) {
        self.modules = modules
        self.optimizers = optimizers
        self.counters = counters
        self.buffers = buffers
        self.generator = generator
    }

    /// Writes the state atomically to `url`.
    public func save(to url: URL) throws {
        var tensors: [(name: String, tensor: Tensor)] = []
        var metadata: [String: String] = ["format": "stylize-training-state-1"]
        for name in modules.keys.sorted() { tensors += modules[name]!.stateDictionary(prefix: name + ".") }
        for name in optimizers.keys.sorted() {
            let optimizer = optimizers[name]!
            tensors += optimizer.stateTensors().map { ("optimizer.\(name).\($0.name)", $0.tensor) }
            metadata["optimizer.\(name).step"] = String(optimizer.stepCount)
            metadata["optimizer.\(name).learning_rate"] = String(optimizer.learningRate.bitPattern)
        }
        for name in buffers.keys.sorted() { tensors.append(("buffer.\(name)", buffers[name]!)) }
        for (name, value) in counters { metadata["counter.\(name)"] = String(value) }
        metadata["rng"] = generator.state.map { String($0) }.joined(separator: ",")
        for (key, value) in runMetadata { metadata["run.\(key)"] = value }
        try Safetensors.write(SafetensorsArchive(tensors: tensors, metadata: metadata), to: url)
    }

    /// Restores modules, optimisers, counters and the generator from `url`.
    public mutating func load(from url: URL) throws {
        let archive = try Safetensors.read(contentsOf: url)
        let path = url.path
        guard archive.metadata["format"] == "stylize-training-state-1" else {
            throw CheckpointError.malformed(path: path, reason: "not a stylize training state")
        }
        let all = archive.dictionary
        for (name, module) in modules {
            let prefix = name + "."
            let subset = Dictionary(uniqueKeysWithValues: all.filter { $0.key.hasPrefix(prefix) }
                .map { (String($0.key.dropFirst(prefix.count)), $0.value) })
            try module.load(stateDictionary: subset, strict: true)
        }
        for (name, optimizer) in optimizers {
            let prefix = "optimizer.\(name)."
            let subset = Dictionary(uniqueKeysWithValues: all.filter { $0.key.hasPrefix(prefix) }
                .map { (String($0.key.dropFirst(prefix.count)), $0.value) })
            guard let step = archive.metadata[prefix + "step"].flatMap(Int.init),
                  let rate = archive.metadata[prefix + "learning_rate"].flatMap(UInt32.init) else {
                throw CheckpointError.malformed(path: path, reason: "optimizer \(name) has no step count")
            }
            try optimizer.restore(stateTensors: subset, stepCount: step)
            optimizer.learningRate = Float(bitPattern: rate)
        }
        buffers = [:]
        for (key, tensor) in all where key.hasPrefix("buffer.") { buffers[String(key.dropFirst("buffer.".count))] = tensor }
        counters = [:]
        for (key, value) in archive.metadata where key.hasPrefix("counter.") {
            counters[String(key.dropFirst("counter.".count))] = Int(value)
        }
        runMetadata = [:]
        for (key, value) in archive.metadata where key.hasPrefix("run.") { runMetadata[String(key.dropFirst("run.".count))] = value }
        let words = (archive.metadata["rng"] ?? "").split(separator: ",").compactMap { UInt64($0) }
        guard words.count == 4 else { throw CheckpointError.malformed(path: path, reason: "random generator state is missing") }
        generator.state = words
    }
}
