import ArgumentParser
import Datasets
import Foundation
import ImageIO
import Models
import Tensor
import Training

/// `stylize train`: training recipes.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train generators from image folders (pix2pix today; CycleGAN and colorization follow).",
        subcommands: [Pix2Pix.self]
    )

    struct Pix2Pix: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "pix2pix",
            abstract: "Paired training: G(A) ≈ B with L1 and a conditional PatchGAN (set --lambda-gan 0 for L1 alone).",
            discussion: """
            Data: --dataroot DIR with DIR/train/ of A|B images (aligned) or DIR/A and DIR/B (or trainA/trainB) paired by \
            name (--dataset-mode paired); or two folders --folder-a and --folder-b paired by name. Writes \
            CHECKPOINTS/NAME/latest_net_G.safetensors (usable as stylize --model), epoch snapshots, latest_state.safetensors \
            (--continue resumes exactly) and loss_log.jsonl.
            """
        )

        @Option(help: "Run name: outputs go to CHECKPOINTS/NAME/.") var name: String
        @Option(help: "Folder for runs.") var checkpoints = "checkpoints"
        @Option(help: "Dataset root (aligned: ROOT/train; paired: ROOT/A, ROOT/B).") var dataroot: String?
        @Option(help: "aligned or paired.") var datasetMode = "aligned"
        @Option(help: "Input folder, paired by name with --folder-b.") var folderA: String?
        @Option(help: "Target folder.") var folderB: String?
        @Option(name: .customLong("netG"), help: "Generator: unet_256, unet_128, resnet_9blocks, resnet_6blocks.") var netG = "unet_256"
        @Option(help: "Generator filters in the first layer.") var ngf = 64
        @Option(help: "batch, instance or none.") var norm = "batch"
        @Flag(help: "No dropout in the generator.") var noDropout = false
        @Option(help: "vanilla or lsgan.") var ganMode = "vanilla"
        @Option(help: "Weight of the L1 term.") var lambdaL1: Float = 100
        @Option(help: "Weight of the GAN term (0: no discriminator).") var lambdaGan: Float = 1
        @Option(help: "Adam learning rate.") var lr: Float = 2e-4
        @Option(help: "Adam beta1.") var beta1: Float = 0.5
        @Option(help: "Epochs at the initial learning rate.") var epochs = 100
        @Option(help: "Epochs of linear decay to zero.") var epochsDecay = 100
        @Option(help: "Batch size.") var batchSize = 1
        @Option(help: "resize_and_crop, crop, scale_width, scale_width_and_crop or none.") var preprocess = "resize_and_crop"
        @Option(help: "Load size.") var loadSize = 286
        @Option(help: "Crop size.") var cropSize = 256
        @Flag(help: "No random flips.") var noFlip = false
        @Option(help: "Seed of initialisation, data order and augmentation.") var seed: UInt64 = 0
        @Option(help: "Stop after this many iterations (state saved).") var maxIters: Int?
        @Option(help: "Stop after this many minutes (state saved).") var maxMinutes: Double?
        @Option(help: "Save the state every N iterations.") var saveEvery = 500
        @Option(help: "Keep a generator snapshot every N epochs.") var saveEpochEvery = 25
        @Flag(name: .customLong("continue"), help: "Resume from CHECKPOINTS/NAME/latest_state.safetensors.") var resume = false
        @Option(help: "Worker threads (default: all cores).") var threads: Int?

        func run() throws {
            if let threads { Parallel.setThreadCount(threads) }
            guard let mode = PreprocessMode(rawValue: preprocess) else { throw ValidationError("unknown --preprocess \(preprocess)") }
            guard let gan = GANMode(rawValue: ganMode) else { throw ValidationError("--gan-mode must be vanilla or lsgan") }
            guard let normalization = NormalizationKind(rawValue: norm) else { throw ValidationError("--norm must be batch, instance or none") }
            let preprocessing = Preprocessing(mode: mode, loadSize: loadSize, cropSize: cropSize, flip: !noFlip)
            let dataset: any Dataset
            do {
                if let folderA, let folderB {
                    dataset = try PairedFolderDataset(folderA: URL(fileURLWithPath: folderA), folderB: URL(fileURLWithPath: folderB),
                                                      preprocessing: preprocessing)
                } else if let dataroot {
                    dataset = datasetMode == "paired"
                        ? try PairedFolderDataset(root: URL(fileURLWithPath: dataroot), preprocessing: preprocessing)
                        : try AlignedDataset(root: URL(fileURLWithPath: dataroot), preprocessing: preprocessing)
                } else {
                    throw ValidationError("give --dataroot, or --folder-a and --folder-b")
                }
            } catch let error as ValidationError { throw error } catch { throw ValidationError("\(error)") }
            var options = Pix2PixOptions(name: name, checkpoints: URL(fileURLWithPath: checkpoints))
            options.architecture = try GeneratorArchitecture(name: netG, filters: ngf, normalization: normalization, dropout: !noDropout)
            options.ganMode = gan
            options.lambdaL1 = lambdaL1
            options.lambdaGAN = lambdaGan
            options.learningRate = lr
            options.beta1 = beta1
            options.epochs = epochs
            options.decayEpochs = epochsDecay
            options.batchSize = batchSize
            options.seed = seed
            options.maxIterations = maxIters
            options.maxMinutes = maxMinutes
            options.saveEvery = saveEvery
            options.saveEpochEvery = saveEpochEvery
            let trainer = Pix2PixTrainer(options: options, dataset: dataset)
            if resume { try trainer.resume() }
            print("\(options.architecture.name) ngf \(ngf), \(dataset.count) pairs, \(trainer.generator.parameterCount) generator parameters → \(trainer.directory.path)")
            try trainer.run()
        }
    }
}
