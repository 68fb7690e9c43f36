import Datasets
import Foundation
import Models
import NN
import Tensor

/// Adversarial loss flavours (`--gan_mode`).
public enum GANMode: String, Sendable, CaseIterable {
    /// Binary cross-entropy on logits (pix2pix's default).
    case vanilla
    /// Least squares (CycleGAN's default).
    case lsgan

    /// The loss of discriminator logits `prediction` against all-real or all-fake targets.
    public func loss(_ prediction: Tensor, real: Bool) -> Tensor {
        let target = Tensor(shape: prediction.shape, repeating: real ? 1 : 0)
        switch self {
        case .vanilla: return Tensor.binaryCrossEntropyWithLogits(prediction, target)
        case .lsgan: return Tensor.mseLoss(prediction, target)
        }
    }
}

/// Options of a pix2pix run (defaults as junyanz/pytorch-CycleGAN-and-pix2pix's pix2pix recipe).
public struct Pix2PixOptions: Sendable {
    public var name: String
    public var checkpoints: URL
    public var architecture = GeneratorArchitecture(kind: .unet, depth: 8, normalization: .batch, dropout: true)
    public var discriminatorFilters = 64
    public var discriminatorLayers = 3
    public var ganMode = GANMode.vanilla
    /// Weight of the adversarial term; 0 trains the generator on L1 alone (no discriminator).
    public var lambdaGAN: Float = 1
    public var lambdaL1: Float = 100
    public var learningRate: Float = 2e-4
    public var beta1: Float = 0.5
    public var epochs = 100
    public var decayEpochs = 100
    public var batchSize = 1
    public var seed: UInt64 = 0
    public var maxIterations: Int?
    public var maxMinutes: Double?
    /// Save the full state every this many iterations (and at every stop).
    public var saveEvery = 500
    /// Keep a generator snapshot every this many epochs.
    public var saveEpochEvery = 25
    public var printEvery = 20

    public init(name: String, checkpoints: URL) {
        self.name = name
        self.checkpoints = checkpoints
    }
}

/// Paired image-to-image training: G(A) ≈ B with L1 plus an optional conditional PatchGAN on (A, ·).
///
/// Writes under `checkpoints/name/`: `latest_net_G.safetensors` (loadable by `stylize --model`),
/// `epoch_N_net_G.safetensors`, `latest_state.safetensors` (both nets, optimiser moments, counters, RNG:
/// `resume` continues exactly) and `loss_log.jsonl`.
public final class Pix2PixTrainer {
    public let options: Pix2PixOptions
    public let generator: Module
    public let discriminator: PatchDiscriminator?
    let optimizerG: Adam
    let optimizerD: Adam?
    let random: RandomGenerator
    let loader: DataLoader
    public private(set) var epoch = 0
    public private(set) var iterationInEpoch = 0
    public private(set) var iterations = 0

    public var directory: URL { options.checkpoints.appendingPathComponent(options.name) }

    public init(options: Pix2PixOptions, dataset: any Dataset, workers: Int = 2) {
        self.options = options
        random = RandomGenerator(seed: options.seed)
        generator = options.architecture.makeGenerator(generator: random)
        generator.initializeWeights(.normal(mean: 0, standardDeviation: 0.02), generator: random)
        if options.lambdaGAN > 0 {
            let architecture = options.architecture
            let network = PatchDiscriminator(inputChannels: architecture.inputChannels + architecture.outputChannels,
                                             filters: options.discriminatorFilters, layers: options.discriminatorLayers,
                                             normalization: architecture.normalization, generator: random)
            network.initializeWeights(.normal(mean: 0, standardDeviation: 0.02), generator: random)
            discriminator = network
            optimizerD = Adam(parameters: network.namedParameters(), learningRate: options.learningRate, beta1: options.beta1)
        } else {
            discriminator = nil
            optimizerD = nil
        }
        optimizerG = Adam(parameters: generator.namedParameters(), learningRate: options.learningRate, beta1: options.beta1)
        loader = DataLoader(dataset: dataset, batchSize: options.batchSize, shuffle: true, seed: options.seed, workers: workers)
    }

    var state: TrainingState {
        var modules: [String: Module] = ["G": generator]
        var optimizers: [String: any Optimizer] = ["G": optimizerG]
        if let discriminator, let optimizerD { modules["D"] = discriminator; optimizers["D"] = optimizerD }
        return TrainingState(modules: modules, optimizers: optimizers,
                             counters: ["epoch": epoch, "iteration_in_epoch": iterationInEpoch, "iterations": iterations],
                             generator: random)
    }

    /// Restores `latest_state.safetensors`.
    public func resume() throws {
        var restored = state
        try restored.load(from: directory.appendingPathComponent("latest_state.safetensors"))
        epoch = restored.counters["epoch"] ?? 0
        iterationInEpoch = restored.counters["iteration_in_epoch"] ?? 0
        iterations = restored.counters["iterations"] ?? 0
    }

    /// Saves the full state and the latest generator (atomically).
    public func save(epochSnapshot: Bool = false) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try state.save(to: directory.appendingPathComponent("latest_state.safetensors"))
        let metadata = options.architecture.metadata.merging(["epoch": String(epoch), "iterations": String(iterations)]) { a, _ in a }
        try generator.save(to: directory.appendingPathComponent("latest_net_G.safetensors"), metadata: metadata)
        if epochSnapshot {
            try generator.save(to: directory.appendingPathComponent("epoch_\(epoch)_net_G.safetensors"), metadata: metadata)
        }
    }

    /// One optimisation step on a batch; returns the losses.
    public func step(_ batch: Batch) -> [String: Float] {
        let realA = batch.a, realB = batch.b!
        generator.train()
        let fakeB = generator(realA)
        var losses: [String: Float] = [:]
        var lossG = Tensor.l1Loss(fakeB, realB) * options.lambdaL1
        losses["G_L1"] = lossG.item / options.lambdaL1
        if let discriminator, let optimizerD {
            discriminator.train()
            optimizerD.zeroGrad()
            let fakePair = Tensor.concatenated([realA, fakeB.detached()], axis: 1)
            let realPair = Tensor.concatenated([realA, realB], axis: 1)
            let lossD = (options.ganMode.loss(discriminator(fakePair), real: false)
                + options.ganMode.loss(discriminator(realPair), real: true)) * 0.5
            lossD.backward()
            optimizerD.step()
            losses["D"] = lossD.item
            let lossGAN = options.ganMode.loss(discriminator(Tensor.concatenated([realA, fakeB], axis: 1)), real: true)
            losses["G_GAN"] = lossGAN.item
            lossG = lossG + lossGAN * options.lambdaGAN
        }
        optimizerG.zeroGrad()
        lossG.backward()
        optimizerG.step()
        return losses
    }

    /// Trains until the schedule ends or a `maxIterations`/`maxMinutes` bound; saves at every stop.
    public func run(log: (String) -> Void = { print($0); fflush(stdout) }) throws {
        let schedule = LearningRateSchedule.linearDecay(constantEpochs: options.epochs, decayEpochs: options.decayEpochs)
        let start = Date()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let logURL = directory.appendingPathComponent("loss_log.jsonl")
        if !FileManager.default.fileExists(atPath: logURL.path) { FileManager.default.createFile(atPath: logURL.path, contents: nil) }
        let lossLog = try FileHandle(forWritingTo: logURL)
        defer { try? lossLog.close() }
        lossLog.seekToEndOfFile()
        var sessionIterations = 0
        func bounded() -> Bool {
            if let maximum = options.maxIterations, iterations >= maximum { return true }
            if let minutes = options.maxMinutes, Date().timeIntervalSince(start) >= minutes * 60 { return true }
            return false
        }
        while epoch < options.epochs + options.decayEpochs {
            let rate = schedule.learningRate(base: options.learningRate, epoch: epoch)
            optimizerG.learningRate = rate
            optimizerD?.learningRate = rate
            let iterator = loader.batches(epoch: epoch)
            var position = 0
            while let batch = try iterator.nextBatch() {
                position += 1
                if position <= iterationInEpoch { continue }
                if bounded() { try save(); log("stopped at iteration \(iterations) (bound reached); state saved"); return }
                let losses = step(batch)
                iterations += 1
                iterationInEpoch += 1
                sessionIterations += 1
                if iterations % options.printEvery == 0 {
                    let elapsed = Date().timeIntervalSince(start)
                    var record: [String: Any] = ["epoch": epoch, "iteration": iterations, "lr": rate, "seconds": elapsed]
                    for (key, value) in losses { record[key] = value }
                    let line = (try? JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])) ?? Data()
                    lossLog.write(line + Data("\n".utf8))
                    let summary = losses.keys.sorted().map { String(format: "%@ %.4f", $0, losses[$0]!) }.joined(separator: "  ")
                    log(String(format: "epoch %d  iteration %d  %.2f it/s  %@", epoch, iterations,
                               Double(sessionIterations) / max(elapsed, 1e-6), summary))
                }
                if iterations % options.saveEvery == 0 { try save() }
            }
            epoch += 1
            iterationInEpoch = 0
            // The state is saved every `saveEvery` iterations and at every stop; at epoch ends only with a snapshot.
            if epoch % options.saveEpochEvery == 0 { try save(epochSnapshot: true) }
        }
        try save()
        log("finished \(options.epochs + options.decayEpochs) epochs, \(iterations) iterations")
    }
}
