import ArgumentParser
import Datasets
import Foundation
import ImageIO
import Models
import NN
import Tensor
import Training

/// `stylize train cyclegan|pix2pix|colorization`: the reference recipes.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train from image folders: CycleGAN, pix2pix, Lab colorization; the latent-diffusion VAE, ×4 SR and colorization.",
        discussion: """
        Every recipe writes CHECKPOINTS/NAME/: latest_net_G*.safetensors (usable as stylize --model) and per-epoch \
        snapshots, latest_state.safetensors (all networks, optimiser moments, counters, random state: --continue \
        resumes exactly), loss_log.jsonl, loss_curve.png and web/index.html with the images of each epoch. \
        Defaults follow junyanz/pytorch-CycleGAN-and-pix2pix; --max-iters / --max-minutes bound a run (state saved).

        Examples:
          stylize train cyclegan --dataroot datasets/horse2zebra --name horse2zebra
          stylize train pix2pix --dataroot datasets/facades --name facades --direction BtoA
          stylize train colorization --dataroot photos --name colorize --max-minutes 60
        """,
        subcommands: [CycleGAN.self, Pix2Pix.self, Colorization.self, Autoencoder.self, SuperResolution.self, Colorize.self]
    )

    struct CycleGAN: TrainingSubcommand {
        static let recipeName = "cyclegan"
        static let configuration = CommandConfiguration(
            commandName: "cyclegan",
            abstract: "Unpaired translation A ↔ B: two generators, two PatchGANs, cycle and identity losses.",
            discussion: """
            Data: --dataroot DIR with DIR/trainA and DIR/trainB (any number of images each, not paired). Writes \
            latest_net_G_A.safetensors (A → B) and latest_net_G_B.safetensors (B → A). Defaults: resnet_9blocks, \
            basic PatchGAN (70×70), instance norm, LSGAN, λ_A = λ_B = 10, identity 0.5, pool of 50 fakes, Adam 2e-4 \
            (0.5, 0.999), 100 + 100 epochs, resize_and_crop 286 → 256 with flips.
            """
        )
        @OptionGroup var common: CommonTrainingArguments
        @OptionGroup var networks: NetworkArguments
        @Option(help: "Weight of the cycle loss A → B → A.") var lambdaA: Float = 10
        @Option(help: "Weight of the cycle loss B → A → B.") var lambdaB: Float = 10
        @Option(help: "Identity-loss weight relative to the cycle weights (0: none).") var lambdaIdentity: Float = 0.5
        @Option(help: "Generated images kept for the discriminators (0: none).") var poolSize = 50

        func validate() throws {
            try common.check()
            guard lambdaA >= 0, lambdaB >= 0, lambdaIdentity >= 0 else { throw ValidationError("the lambdas must not be negative") }
            guard poolSize >= 0 else { throw ValidationError("--pool-size must not be negative") }
        }

        func networkDefinition() throws -> [(option: String, value: String)] {
            try networks.definition(default: "resnet_9blocks", normalization: .instance, dropout: false, common: common)
        }

        func start() throws {
            common.applyThreads()
            var options = CycleGANOptions()
            options.architecture = try networks.generator(default: "resnet_9blocks", normalization: .instance, dropout: false,
                                                          inputChannels: common.inputChannels, outputChannels: common.outputChannels)
            options.discriminator = try networks.discriminator(normalization: options.architecture.normalization)
            try common.checkSizes(generator: options.architecture, discriminator: options.discriminator)
            options.ganMode = try networks.gan(default: .lsgan)
            options.lambdaA = lambdaA
            options.lambdaB = lambdaB
            options.lambdaIdentity = options.architecture.inputChannels == options.architecture.outputChannels ? lambdaIdentity : 0
            options.poolSize = poolSize
            let training = try common.trainingOptions()
            let dataset = try common.loading {
                try UnalignedDataset(root: try common.root(), direction: common.parsedDirection(), preprocessing: try common.preprocessing(),
                                     inputChannels: common.inputChannels, outputChannels: common.outputChannels)
            }
            let recipe = CycleGANRecipe(options: options, training: training)
            try common.train(recipe: recipe, training: training, dataset: dataset,
                             summary: "\(options.architecture.name) ngf \(options.architecture.filters) ×2, \(options.discriminator.kind.rawValue) ndf \(options.discriminator.filters) ×2, \((dataset as UnalignedDataset).pathsA.count) A / \(dataset.pathsB.count) B images")
        }
    }

    struct Pix2Pix: TrainingSubcommand {
        static let recipeName = "pix2pix"
        static let configuration = CommandConfiguration(
            commandName: "pix2pix",
            abstract: "Paired translation: G(A) ≈ B with L1 and a conditional PatchGAN (--lambda-gan 0 for L1 alone).",
            discussion: """
            Data: --dataroot DIR with DIR/train/ of side-by-side A|B images (aligned; make them with stylize combine), \
            or DIR/A and DIR/B (or trainA/trainB) paired by name (--dataset-mode paired); or --folder-a and --folder-b. \
            Writes latest_net_G.safetensors. Defaults: unet_256, basic PatchGAN on (A, B), batch norm, dropout, \
            vanilla GAN, λ_L1 = 100, Adam 2e-4 (0.5, 0.999), 100 + 100 epochs.
            """
        )
        @OptionGroup var common: CommonTrainingArguments
        @OptionGroup var networks: NetworkArguments
        @Option(help: "aligned (A|B side by side in ROOT/train) or paired (ROOT/A + ROOT/B by name).") var datasetMode = "aligned"
        @Option(help: "Input folder, paired by name with --folder-b (instead of --dataroot).") var folderA: String?
        @Option(help: "Target folder.") var folderB: String?
        @Option(help: "Weight of the L1 term.") var lambdaL1: Float = 100
        @Option(help: "Weight of the GAN term (0: no discriminator).") var lambdaGan: Float = 1

        func validate() throws {
            try common.check(dataRootRequired: false)
            guard ["aligned", "paired"].contains(datasetMode) else { throw ValidationError("--dataset-mode must be aligned or paired") }
            guard (folderA == nil) == (folderB == nil) else { throw ValidationError("give both --folder-a and --folder-b") }
            guard common.dataroot != nil || folderA != nil || common.resume else { throw ValidationError("give --dataroot, or --folder-a and --folder-b") }
            guard lambdaL1 >= 0, lambdaGan >= 0 else { throw ValidationError("the lambdas must not be negative") }
        }

        func networkDefinition() throws -> [(option: String, value: String)] {
            try networks.definition(default: "unet_256", normalization: .batch, dropout: true, common: common)
                + [("--lambda-gan", lambdaGan > 0 ? "> 0 (with a discriminator)" : "0 (no discriminator)")]
        }

        func start() throws {
            common.applyThreads()
            var options = Pix2PixOptions()
            options.architecture = try networks.generator(default: "unet_256", normalization: .batch, dropout: true,
                                                          inputChannels: common.inputChannels, outputChannels: common.outputChannels)
            options.discriminator = try networks.discriminator(normalization: options.architecture.normalization)
            try common.checkSizes(generator: options.architecture, discriminator: options.discriminator)
            options.ganMode = try networks.gan(default: .vanilla)
            options.lambdaL1 = lambdaL1
            options.lambdaGAN = lambdaGan
            let training = try common.trainingOptions()
            let preprocessing = try common.preprocessing()
            let dataset: any Dataset = try common.loading {
                if let folderA, let folderB {
                    return try PairedFolderDataset(folderA: URL(fileURLWithPath: folderA), folderB: URL(fileURLWithPath: folderB),
                                                   direction: common.parsedDirection(), preprocessing: preprocessing,
                                                   inputChannels: common.inputChannels, outputChannels: common.outputChannels)
                }
                return datasetMode == "paired"
                    ? try PairedFolderDataset(root: try common.root(), direction: common.parsedDirection(), preprocessing: preprocessing,
                                              inputChannels: common.inputChannels, outputChannels: common.outputChannels)
                    : try AlignedDataset(root: try common.root(), direction: common.parsedDirection(), preprocessing: preprocessing,
                                         inputChannels: common.inputChannels, outputChannels: common.outputChannels)
            }
            try common.train(recipe: Pix2PixRecipe(options: options, training: training), training: training, dataset: dataset,
                             summary: "\(options.architecture.name) ngf \(options.architecture.filters), \(dataset.count) pairs")
        }
    }

    struct Colorization: TrainingSubcommand {
        static let recipeName = "colorization"
        static let configuration = CommandConfiguration(
            commandName: "colorization",
            abstract: "Lab colorization: pix2pix from the L plane to the ab planes (1 → 2 channels).",
            discussion: """
            Data: --dataroot DIR with colour photos in DIR/train (or directly in DIR). Writes latest_net_G.safetensors, \
            which stylize --model applies to colour or gray photos (it keeps their lightness and predicts colour). \
            Defaults as pix2pix: unet_256, basic PatchGAN, batch norm, vanilla GAN, λ_L1 = 100.
            """
        )
        @OptionGroup var common: CommonTrainingArguments
        @OptionGroup var networks: NetworkArguments
        @Option(help: "Weight of the L1 term.") var lambdaL1: Float = 100
        @Option(help: "Weight of the GAN term (0: no discriminator).") var lambdaGan: Float = 1

        func validate() throws {
            try common.check()
            guard lambdaL1 >= 0, lambdaGan >= 0 else { throw ValidationError("the lambdas must not be negative") }
        }

        func networkDefinition() throws -> [(option: String, value: String)] {
            try networks.definition(default: "unet_256", normalization: .batch, dropout: true, common: common, channels: (1, 2))
                + [("--lambda-gan", lambdaGan > 0 ? "> 0 (with a discriminator)" : "0 (no discriminator)")]
        }

        func start() throws {
            common.applyThreads()
            var options = Pix2PixOptions.colorizationDefaults
            options.architecture = try networks.generator(default: "unet_256", normalization: .batch, dropout: true,
                                                          inputChannels: 1, outputChannels: 2)
            options.discriminator = try networks.discriminator(normalization: options.architecture.normalization)
            try common.checkSizes(generator: options.architecture, discriminator: options.discriminator)
            options.ganMode = try networks.gan(default: .vanilla)
            options.lambdaL1 = lambdaL1
            options.lambdaGAN = lambdaGan
            let training = try common.trainingOptions()
            let dataset = try common.loading { () throws -> ColorizationDataset in
                let root = try common.root()
                let phase = FileManager.default.fileExists(atPath: root.appendingPathComponent("train").path) ? "train" : ""
                return try ColorizationDataset(root: root, phase: phase, preprocessing: try common.preprocessing())
            }
            try common.train(recipe: Pix2PixRecipe(options: options, training: training), training: training, dataset: dataset,
                             summary: "\(options.architecture.name) ngf \(options.architecture.filters) L → ab, \(dataset.count) photos")
        }
    }
}

/// Defaults that differ between the GAN recipes and the latent-diffusion ones.
struct RecipeDefaults {
    var learningRate: Float, epochs: Int, decayEpochs: Int, batchSize: Int, preprocess: String, loadSize: Int, cropSize: Int
    static let gan = RecipeDefaults(learningRate: 2e-4, epochs: 100, decayEpochs: 100, batchSize: 1, preprocess: "resize_and_crop",
                                    loadSize: 286, cropSize: 256)
    static let latent = RecipeDefaults(learningRate: 1e-4, epochs: 100, decayEpochs: 0, batchSize: 4, preprocess: "scale_width_and_crop",
                                       loadSize: 286, cropSize: 128)
}

/// Options every recipe shares: data, schedule, bounds, checkpoints.
struct CommonTrainingArguments: ParsableArguments {
    @Option(help: "Run name: outputs go to CHECKPOINTS/NAME/.") var name: String
    @Option(help: "Folder for runs.") var checkpoints = "checkpoints"
    @Option(help: "Dataset root (layout per recipe, see above).") var dataroot: String?
    @Option(help: "AtoB or BtoA.") var direction = "AtoB"
    @Option(help: "Channels of A images (1 or 3).") var inputChannels = 3
    @Option(help: "Channels of B images (1 or 3).") var outputChannels = 3
    @Option(name: .customLong("lr"), help: "Adam learning rate (default: 2e-4 for the GANs, 1e-4 for vae, sr and colorize).") var lrChoice: Float?
    @Option(help: "Adam beta1.") var beta1: Float = 0.5
    @Option(name: .customLong("epochs"), help: "Epochs at the initial learning rate (default: 100).") var epochsChoice: Int?
    @Option(name: .customLong("epochs-decay"), help: "Epochs of decay after them (default: 100 for the GANs, 0 for vae, sr and colorize).") var epochsDecayChoice: Int?
    @Option(help: "linear, step or cosine.") var lrPolicy = "linear"
    @Option(help: "Epochs between ×0.1 steps of the step policy.") var lrDecayIters = 50
    @Option(name: .customLong("batch-size"), help: "Batch size (default: 1 for the GANs, 4 for vae, sr and colorize).") var batchSizeChoice: Int?
    @Option(name: .customLong("preprocess"), help: "resize_and_crop, crop, scale_width, scale_width_and_crop or none (default: resize_and_crop for the GANs, scale_width_and_crop for vae, sr and colorize).") var preprocessChoice: String?
    @Option(name: .customLong("load-size"), help: "Images are scaled to this size first (default: 286).") var loadSizeChoice: Int?
    @Option(name: .customLong("crop-size"), help: "Then cropped to this size (default: 256 for the GANs, 128 for vae, sr and colorize).") var cropSizeChoice: Int?
    @Flag(help: "No random horizontal flips.") var noFlip = false
    @Option(help: "Seed of initialisation, data order, augmentation and pools.") var seed: UInt64 = 0
    @Option(help: "Stop after this many iterations in total (state saved; --continue goes on).") var maxIters: Int?
    @Option(help: "Stop after this many minutes (state saved).") var maxMinutes: Double?
    @Option(help: "Save the full state every N iterations.") var saveEvery = 500
    @Option(help: "Keep generator snapshots every N epochs.") var saveEpochEvery = 5
    @Option(help: "Log losses every N iterations.") var printEvery = 20
    @Option(help: "Redraw loss_curve.png and the page's images every N iterations.") var displayEvery = 200
    @Flag(name: .customLong("continue"), help: "Resume CHECKPOINTS/NAME from its saved state, with the options it was started with (options given now change the schedule, bounds or data; the networks cannot change).") var resume = false
    @Flag(help: "Start over when CHECKPOINTS/NAME holds a run (its files are deleted first).") var overwrite = false
    @Option(help: "Worker threads (default: all cores).") var threads: Int?

    /// The recipe's defaults for the options left unset.
    var defaults: RecipeDefaults = .gan
    var lr: Float { lrChoice ?? defaults.learningRate }
    var epochs: Int { epochsChoice ?? defaults.epochs }
    var epochsDecay: Int { epochsDecayChoice ?? defaults.decayEpochs }
    var batchSize: Int { batchSizeChoice ?? defaults.batchSize }
    var preprocess: String { preprocessChoice ?? defaults.preprocess }
    var loadSize: Int { loadSizeChoice ?? defaults.loadSize }
    var cropSize: Int { cropSizeChoice ?? defaults.cropSize }

    enum CodingKeys: String, CodingKey {
        case name, checkpoints, dataroot, direction, inputChannels, outputChannels, lrChoice, beta1, epochsChoice, epochsDecayChoice
        case lrPolicy, lrDecayIters, batchSizeChoice, preprocessChoice, loadSizeChoice, cropSizeChoice, noFlip, seed, maxIters
        case maxMinutes, saveEvery, saveEpochEvery, printEvery, displayEvery, resume, overwrite, threads, quiet
    }
    /// The options this run records in its state (set by ``TrainingSubcommand/run()``).
    var invocation: [String] = []
    /// The recipe's name after `train` (set by ``TrainingSubcommand/run()``).
    var recipeName = ""
    @Flag(help: "No progress bar (loss lines are still printed).") var quiet = false

    func check(dataRootRequired: Bool = true) throws {
        // A continued run takes its data options from its saved state.
        if dataRootRequired && dataroot == nil && !resume { throw ValidationError("give --dataroot") }
        guard !(resume && overwrite) else { throw ValidationError("--continue resumes a run, --overwrite deletes it: give one of them") }
        guard !name.isEmpty, !name.contains("/") else { throw ValidationError("--name must be a plain folder name") }
        guard LearningRatePolicy(rawValue: lrPolicy) != nil else { throw ValidationError("--lr-policy must be linear, step or cosine") }
        guard PreprocessMode(rawValue: preprocess) != nil else {
            throw ValidationError("--preprocess must be resize_and_crop, crop, scale_width, scale_width_and_crop or none")
        }
        guard Direction(rawValue: direction) != nil else { throw ValidationError("--direction must be AtoB or BtoA") }
        guard [1, 3].contains(inputChannels), [1, 3].contains(outputChannels) else { throw ValidationError("channels must be 1 or 3") }
        guard lr > 0, (0..<1).contains(beta1) else { throw ValidationError("--lr must be positive and --beta1 in [0, 1)") }
        guard epochs >= 0, epochsDecay >= 0, epochs + epochsDecay > 0 else { throw ValidationError("train for at least one epoch") }
        guard batchSize >= 1, loadSize >= 8, cropSize >= 8 else { throw ValidationError("--batch-size must be ≥ 1 and sizes ≥ 8") }
        do { try preprocessing().validate() } catch { throw ValidationError("\(error)") }
        guard saveEvery >= 1, saveEpochEvery >= 1, printEvery >= 1, displayEvery >= 1, lrDecayIters >= 1 else {
            throw ValidationError("the --*-every options and --lr-decay-iters must be at least 1")
        }
        if let maxIters, maxIters < 0 { throw ValidationError("--max-iters must not be negative") }
        if let maxMinutes, maxMinutes <= 0 { throw ValidationError("--max-minutes must be positive") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func applyThreads() { if let threads { Parallel.setThreadCount(threads) } }

    /// Crops the networks cannot take fail here with the sizes that work, rather than deep in a forward pass.
    func checkSizes(generator: GeneratorArchitecture, discriminator: DiscriminatorArchitecture) throws {
        guard ["resize_and_crop", "crop", "scale_width_and_crop"].contains(preprocess) else { return }
        let multiple = generator.sideMultiple
        guard cropSize % multiple == 0 else {
            throw ValidationError("--crop-size \(cropSize) does not fit \(generator.name): use a multiple of \(multiple)")
        }
        if discriminator.kind != .pixel {
            // Strided 4×4 convolutions halve the side; the last two 4×4 convolutions (stride 1, padding 1) take 1 each.
            var side = cropSize
            for _ in 0..<(discriminator.kind == .basic ? 3 : discriminator.layers) { side = (side - 2) / 2 + 1 }
            guard side - 2 >= 1 else {
                throw ValidationError("--crop-size \(cropSize) is too small for the \(discriminator.kind.rawValue) discriminator; use a larger crop or fewer --n-layers-D")
            }
        }
    }

    func root() throws -> URL {
        guard let dataroot else { throw ValidationError("give --dataroot") }
        return URL(fileURLWithPath: dataroot)
    }

    func parsedDirection() -> Direction { Direction(rawValue: direction) ?? .aToB }

    func preprocessing() throws -> Preprocessing {
        Preprocessing(mode: PreprocessMode(rawValue: preprocess) ?? .resizeAndCrop, loadSize: loadSize, cropSize: cropSize, flip: !noFlip)
    }

    func trainingOptions() throws -> TrainingOptions {
        var options = TrainingOptions(name: name, checkpoints: URL(fileURLWithPath: checkpoints))
        options.learningRate = lr
        options.beta1 = beta1
        options.epochs = epochs
        options.decayEpochs = epochsDecay
        options.policy = LearningRatePolicy(rawValue: lrPolicy) ?? .linear
        options.decayInterval = lrDecayIters
        options.batchSize = batchSize
        options.seed = seed
        options.maxIterations = maxIters
        options.maxMinutes = maxMinutes
        options.saveEvery = saveEvery
        options.saveEpochEvery = saveEpochEvery
        options.printEvery = printEvery
        options.displayEvery = displayEvery
        options.progressBar = !quiet
        options.replaceExisting = overwrite
        if let arguments = try? JSONEncoder().encode(invocation) {
            options.runMetadata = ["command": "stylize train \(recipeName)", "arguments": String(decoding: arguments, as: UTF8.self)]
        }
        options.stopRequested = { StopSignals.shared.requested }
        return options
    }

    /// Builds a dataset, turning its errors into one plain message.
    func loading<D>(_ build: () throws -> D) throws -> D {
        do { return try build() } catch let error as ValidationError { throw error } catch { throw CommandFailure("\(error)") }
    }

    func train(recipe: any TrainingRecipe, training: TrainingOptions, dataset: any Dataset, summary: String) throws {
        let trainer = try Trainer(recipe: recipe, options: training, dataset: dataset)
        if resume { try trainer.resume() }
        let parameters = recipe.modules.keys.sorted().map { "\($0) \(recipe.modules[$0]!.parameterCount)" }.joined(separator: ", ")
        print("\(summary); parameters: \(parameters)")
        print("writing \(trainer.directory.path) (page: \(trainer.page.pageURL.path))" + (resume ? "; continuing at iteration \(trainer.iterations)" : ""))
        fflush(nil)
        StopSignals.shared.install()
        do {
            try trainer.run()
        } catch TrainingError.interrupted(let signal, _) {
            throw ExitCode(128 + signal)
        }
    }
}

/// Network choices shared by the recipes; unset ones take the recipe's default.
struct NetworkArguments: ParsableArguments {
    @Option(name: .customLong("netG"), help: "Generator: resnet_9blocks, resnet_6blocks, unet_256, unet_128 (default per recipe).") var netG: String?
    @Option(help: "Generator filters in the first layer.") var ngf = 64
    @Option(name: .customLong("netD"), help: "Discriminator: basic (70×70 PatchGAN), n_layers or pixel.") var netD = "basic"
    @Option(help: "Discriminator filters in the first layer.") var ndf = 64
    @Option(name: .customLong("n-layers-D"), help: "Strided layers of the n_layers discriminator.") var nLayersD = 3
    @Option(help: "Normalization: instance, batch or none (default per recipe).") var norm: String?
    @Flag(help: "No dropout in the generator (pix2pix and colorization use it by default).") var noDropout = false
    @Flag(help: "Dropout in the generator (CycleGAN has none by default).") var dropout = false
    @Option(help: "GAN loss: vanilla or lsgan (default per recipe).") var ganMode: String?

    func generator(default name: String, normalization: NormalizationKind, dropout recipeDropout: Bool,
                   inputChannels: Int, outputChannels: Int) throws -> GeneratorArchitecture {
        guard ngf >= 1 else { throw ValidationError("--ngf must be positive") }
        let chosen = try norm.map { value -> NormalizationKind in
            guard let kind = NormalizationKind(rawValue: value) else { throw ValidationError("--norm must be instance, batch or none") }
            return kind
        } ?? normalization
        do {
            return try GeneratorArchitecture(name: netG ?? name, filters: ngf, inputChannels: inputChannels, outputChannels: outputChannels,
                                             normalization: chosen, dropout: (recipeDropout || dropout) && !noDropout)
        } catch { throw ValidationError("\(error)") }
    }

    func discriminator(normalization: NormalizationKind) throws -> DiscriminatorArchitecture {
        guard let kind = DiscriminatorArchitecture.Kind(rawValue: netD) else { throw ValidationError("--netD must be basic, n_layers or pixel") }
        guard ndf >= 1, nLayersD >= 1 else { throw ValidationError("--ndf and --n-layers-D must be positive") }
        return DiscriminatorArchitecture(kind: kind, filters: ndf, layers: nLayersD, normalization: normalization)
    }

    /// The network-defining options as a recipe with these defaults resolves them (see ``TrainingSubcommand``).
    func definition(default name: String, normalization: NormalizationKind, dropout recipeDropout: Bool,
                    common: CommonTrainingArguments, channels: (Int, Int)? = nil) throws -> [(option: String, value: String)] {
        let (inputChannels, outputChannels) = channels ?? (common.inputChannels, common.outputChannels)
        let generator = try self.generator(default: name, normalization: normalization, dropout: recipeDropout,
                                           inputChannels: inputChannels, outputChannels: outputChannels)
        let discriminator = try self.discriminator(normalization: generator.normalization)
        return [("--netG", generator.name), ("--ngf", String(generator.filters)), ("--norm", generator.normalization.rawValue),
                ("--dropout", generator.dropout ? "on" : "off"), ("--input-channels", String(inputChannels)),
                ("--output-channels", String(outputChannels)), ("--netD", discriminator.kind.rawValue), ("--ndf", String(discriminator.filters)),
                ("--n-layers-D", discriminator.kind == .nLayers ? String(discriminator.layers) : "-")]
    }

    func gan(default mode: GANMode) throws -> GANMode {
        guard let ganMode else { return mode }
        guard let parsed = GANMode(rawValue: ganMode) else { throw ValidationError("--gan-mode must be vanilla or lsgan") }
        return parsed
    }
}
