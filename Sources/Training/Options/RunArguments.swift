import ArgumentParser
import Distributed
import Foundation
import ImageIO
import NN
import Tensor

/// Defaults that differ between recipes (the GANs follow junyanz/pytorch-CycleGAN-and-pix2pix; the latent-diffusion
/// recipes train longer on smaller crops with a lower rate).
public struct RecipeDefaults: Sendable {
    public var learningRate: Float
    public var epochs: Int
    public var decayEpochs: Int
    public var batchSize: Int
    public var preprocess: PreprocessMode
    public var loadSize: Int
    public var cropSize: Int

    public init(learningRate: Float, epochs: Int, decayEpochs: Int, batchSize: Int, preprocess: PreprocessMode, loadSize: Int, cropSize: Int) {
        self.learningRate = learningRate
        self.epochs = epochs
        self.decayEpochs = decayEpochs
        self.batchSize = batchSize
        self.preprocess = preprocess
        self.loadSize = loadSize
        self.cropSize = cropSize
    }

    /// The reference GAN recipes: Adam 2e-4, 100 + 100 epochs, batch 1, resize_and_crop 286 → 256.
    public static let gan = RecipeDefaults(learningRate: 2e-4, epochs: 100, decayEpochs: 100, batchSize: 1, preprocess: .resizeAndCrop,
                                           loadSize: 286, cropSize: 256)
    /// The latent-diffusion recipes: Adam 1e-4, 100 epochs, batch 4, scale_width_and_crop 286 → 128.
    public static let latent = RecipeDefaults(learningRate: 1e-4, epochs: 100, decayEpochs: 0, batchSize: 4,
                                              preprocess: .scaleWidthAndCrop, loadSize: 286, cropSize: 128)
}

/// Options of every training run: where it writes, its schedule, bounds and feedback. Unset values take the recipe's
/// ``RecipeDefaults``.
public struct RunArguments: ParsableArguments {
    @Option(help: "Run name: outputs go to CHECKPOINTS_DIR/NAME/.") public var name: String
    @Option(help: "Folder for runs.") public var checkpointsDir: String?
    @Option(name: .customLong("checkpoints"), help: .hidden) var checkpointsAlias: String?
    @Flag(name: .customLong("continue"), help: "Resume CHECKPOINTS_DIR/NAME from its saved state with the options it was started with (options given now change the schedule, bounds or data; the networks cannot change).") public var resume = false
    @Flag(help: "Start over when CHECKPOINTS_DIR/NAME holds a run (its files are deleted first).") public var overwrite = false
    @Option(name: .customLong("lr"), help: "Adam learning rate (default per recipe: 2e-4 for the GANs, 1e-4 for latent diffusion).") public var learningRate: Float?
    @Option(help: "Adam beta1.") public var beta1: Float = 0.5
    @Option(help: "Epochs at the initial learning rate (default 100).") public var epochs: Int?
    @Option(help: "Epochs of decay after them (default per recipe: 100 for the GANs, 0 for latent diffusion).") public var epochsDecay: Int?
    @Option(help: "Learning-rate policy.") public var lrPolicy: LearningRatePolicy = .linear
    @Option(help: "Epochs between ×0.1 steps of the step policy.") public var lrDecayIters = 50
    @Option(help: "Batch size (default per recipe: 1 for the GANs, 4 for latent diffusion).") public var batchSize: Int?
    @Option(help: "Seed of initialisation, data order, augmentation and pools.") public var seed: UInt64 = 0
    @Option(help: "Stop after this many iterations in total (state saved; --continue goes on).") public var maxIters: Int?
    @Option(help: "Stop after this many minutes (state saved).") public var maxMinutes: Double?
    @Option(help: "Save the full state every N iterations (and at every epoch end and every stop).") public var saveEvery = 500
    @Option(help: "Keep generator snapshots every N epochs (and after the last).") public var saveEpochEvery = 5
    @Option(help: "Log losses every N iterations.") public var printEvery = 20
    @Option(help: "Redraw loss_curve.png and the page's images every N iterations.") public var displayEvery = 200
    @Option(help: "Worker threads (default: all cores).") public var threads: Int?
    @Flag(help: "No progress bar (loss lines are still printed).") public var quiet = false

    public init() {}

    /// The folder of runs.
    public var checkpoints: String { checkpointsDir ?? checkpointsAlias ?? "checkpoints" }

    /// The run's folder.
    public var directory: URL { URL(fileURLWithPath: checkpoints).appendingPathComponent(name) }

    public func validate() throws {
        guard !name.isEmpty, !name.contains("/") else { throw ValidationError("--name must be a plain folder name") }
        guard !(resume && overwrite) else { throw ValidationError("--continue resumes a run, --overwrite deletes it: give one of them") }
        if let learningRate { guard learningRate > 0, learningRate.isFinite else { throw ValidationError("--lr must be positive") } }
        guard (0..<1).contains(beta1) else { throw ValidationError("--beta1 must be in [0, 1)") }
        if let epochs, epochs < 0 { throw ValidationError("--epochs must not be negative") }
        if let epochsDecay, epochsDecay < 0 { throw ValidationError("--epochs-decay must not be negative") }
        if let batchSize, batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        guard saveEvery >= 1, saveEpochEvery >= 1, printEvery >= 1, displayEvery >= 1, lrDecayIters >= 1 else {
            throw ValidationError("--save-every, --save-epoch-every, --print-every, --display-every and --lr-decay-iters must be at least 1")
        }
        if let maxIters, maxIters < 0 { throw ValidationError("--max-iters must not be negative") }
        if let maxMinutes { guard maxMinutes > 0, maxMinutes.isFinite else { throw ValidationError("--max-minutes must be positive") } }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    /// The trainer's options with the recipe's defaults for what is unset.
    public func trainingOptions(defaults: RecipeDefaults) throws -> TrainingOptions {
        var options = TrainingOptions(name: name, checkpoints: URL(fileURLWithPath: checkpoints))
        options.learningRate = learningRate ?? defaults.learningRate
        options.beta1 = beta1
        options.epochs = epochs ?? defaults.epochs
        options.decayEpochs = epochsDecay ?? defaults.decayEpochs
        guard options.epochs + options.decayEpochs > 0 else { throw ValidationError("train for at least one epoch (--epochs, --epochs-decay)") }
        options.policy = lrPolicy
        options.decayInterval = lrDecayIters
        options.batchSize = batchSize ?? defaults.batchSize
        options.seed = seed
        options.maxIterations = maxIters
        options.maxMinutes = maxMinutes
        options.saveEvery = saveEvery
        options.saveEpochEvery = saveEpochEvery
        options.printEvery = printEvery
        options.displayEvery = displayEvery
        options.progressBar = !quiet
        options.replaceExisting = overwrite
        return options
    }

    /// Applies `--threads` (default under `mpirun`: the machine's cores shared among its ranks).
    public func applyThreads() {
        if let count = threads ?? Communicator.threadsPerProcess() { Parallel.setThreadCount(count) }
    }
}
