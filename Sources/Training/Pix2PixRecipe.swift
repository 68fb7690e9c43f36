import ArgumentParser
import Datasets
import Foundation
import ImageIO
import Models
import NN
import Tensor

/// Options of the pix2pix recipe (defaults as junyanz/pytorch-CycleGAN-and-pix2pix's pix2pix model).
public struct Pix2PixOptions: Sendable {
    public var architecture = GeneratorArchitecture(kind: .unet, depth: 8, normalization: .batch, dropout: true)
    public var discriminator = DiscriminatorArchitecture(kind: .basic, filters: 64, normalization: .batch)
    public var ganMode = GANMode.vanilla
    /// Weight of the adversarial term; 0 trains the generator on L1 alone (no discriminator).
    public var lambdaGAN: Float = 1
    public var lambdaL1: Float = 100
    /// Label smoothing, discriminator steps and learning rate, the generator's average.
    public var adversarial = AdversarialOptions()
    /// Lab colorization: A is the L plane (1 channel), B the ab planes (2 channels); images are shown in RGB.
    public var colorization = false

    public init() {}
}

/// Paired image-to-image translation: G(A) ≈ B with λ·L1 plus a conditional PatchGAN on (A, ·); the discriminator
/// loss is halved. Networks `G`, `D`; losses `G_GAN`, `G_L1`, `D_real`, `D_fake`.
public final class Pix2PixRecipe: TrainingRecipe {
    public let options: Pix2PixOptions
    public let random: RandomGenerator
    public let generator: Module
    public let discriminator: Module?
    let optimizerG: Adam
    let optimizerD: Adam?
    let averages: GeneratorAverages
    let history: HistoricalAverages
    let references: ReferenceBatches
    var latest: (realA: Tensor, fakeB: Tensor, realB: Tensor)?

    public init(options: Pix2PixOptions, training: TrainingOptions) {
        self.options = options
        random = RandomGenerator(seed: training.seed)
        generator = options.architecture.makeGenerator(generator: random)
        generator.initializeWeights(.normal(mean: 0, standardDeviation: 0.02), generator: random)
        (discriminator, optimizerD) = optionalDiscriminator(
            when: options.lambdaGAN > 0, options.discriminator,
            inputChannels: options.architecture.inputChannels + options.architecture.outputChannels, random: random, training: training)
        optimizerG = Adam(parameters: generator.namedParameters(), learningRate: training.learningRate, beta1: training.beta1,
                          beta2: training.beta2)
        averages = GeneratorAverages(decay: options.adversarial.generatorAverageDecay, networks: [
            ("G", generator, options.architecture.makeGenerator(generator: RandomGenerator(seed: 0)))])
        history = HistoricalAverages(lambda: options.adversarial.lambdaHistorical,
                                     networks: [("G", generator)] + (discriminator.map { [("D", $0)] } ?? []))
        references = ReferenceBatches(enabled: options.architecture.normalization == .virtualBatch
                                      || (options.lambdaGAN > 0 && options.discriminator.normalization == .virtualBatch))
    }

    public var learningRateScales: [String: Float] { ["D": options.adversarial.discriminatorLearningRateScale] }

    public var modules: [String: Module] { adding(["G": generator], "D", discriminator) }

    public var optimizers: [String: any Optimizer] { adding(["G": optimizerG], "D", optimizerD) }

    public var lossNames: [String] {
        guard discriminator != nil else { return ["G_L1"] + (options.adversarial.lambdaHistorical > 0 ? ["G_hist"] : []) }
        return ["G_GAN", "G_L1"] + (options.adversarial.lambdaFeatureMatching > 0 ? ["G_FM"] : [])
            + (options.adversarial.lambdaHistorical > 0 ? ["G_hist", "D_hist"] : []) + ["D_real", "D_fake"]
            + (options.ganMode == .wgangp ? ["D_GP"] : []) + (options.adversarial.r1Gamma > 0 ? ["D_R1"] : [])
    }
    public var visualLabels: [String] { ["real_A", "fake_B", "real_B"] }

    public var exportedGenerators: [(name: String, module: Module, metadata: [String: String])] {
        var metadata = options.architecture.metadata
        if options.colorization { metadata["task"] = "colorization" }
        return [("G", averages.exported("G", live: generator), metadata)]
    }

    public func step(_ batch: Batch) -> [String: Float] {
        guard let realB = batch.b else { preconditionFailure("pix2pix needs paired batches") }
        let realA = batch.a
        generator.train()
        references.remember(batch)
        let referencePair = references.a.flatMap { a in references.b.map { Tensor.concatenated([a, $0], axis: 1) } }
        references.refresh([(generator, references.a)])
        let fakeB = generator(realA)
        var losses: [String: Float] = [:]
        if let discriminator, let optimizerD {
            // Discriminator: real pairs vs (detached) fake pairs, halved; --d-steps times on this batch.
            discriminator.train()
            discriminator.setRequiresGradient(true)
            let fakePair = Tensor.concatenated([realA, fakeB.detached()], axis: 1), realPair = Tensor.concatenated([realA, realB], axis: 1)
            losses = updateDiscriminator(discriminator, optimizer: optimizerD, real: realPair, fake: fakePair, mode: options.ganMode,
                                         options: options.adversarial, random: random, history: history) {
                references.refresh([(discriminator, referencePair)])
            }
        }
        optimizerG.zeroGrad()
        let lossL1 = Tensor.l1Loss(fakeB, realB)
        losses["G_L1"] = lossL1.item
        var lossG = lossL1 * options.lambdaL1
        if let discriminator {
            discriminator.setRequiresGradient(false)
            references.refresh([(discriminator, referencePair)])
            let fakePair = Tensor.concatenated([realA, fakeB], axis: 1)
            let (lossGAN, matching) = generatorAdversarialLoss(discriminator, fake: fakePair, real: Tensor.concatenated([realA, realB], axis: 1),
                                                               paired: true, mode: options.ganMode, options: options.adversarial)
            if let matching {
                losses["G_FM"] = matching.item
                lossG = lossG + matching * options.adversarial.lambdaFeatureMatching
            }
            losses["G_GAN"] = lossGAN.item
            lossG = lossG + lossGAN * options.lambdaGAN
        }
        lossG.backward()
        losses["G_hist"] = history.addPenaltyGradients("G")
        optimizerG.step()
        averages.update()
        history.update()
        for network in [generator] + (discriminator.map { [$0] } ?? []) { VirtualBatchNorm2d.endStep(network) }
        latest = (realA, fakeB.detached(), realB)
        return losses
    }

    public func visuals() -> [(label: String, image: Image)] {
        guard let latest else { return [] }
        let first = { (tensor: Tensor) in tensor.sliced(axis: 0, 0..<1) }
        if options.colorization {
            let lightness = first(latest.realA)
            return [("real_A", Image(tensor: lightness)),
                    ("fake_B", LabEncoding.merge(lightness: lightness, chroma: first(latest.fakeB))),
                    ("real_B", LabEncoding.merge(lightness: lightness, chroma: first(latest.realB)))]
        }
        return [("real_A", Image(tensor: first(latest.realA))), ("fake_B", Image(tensor: first(latest.fakeB))),
                ("real_B", Image(tensor: first(latest.realB)))]
    }

    public func buffers() -> [String: Tensor] { stabiliserBuffers(averages, history, references) }
    public func restore(buffers: [String: Tensor]) throws { try restoreStabilisers(averages, history, references, from: buffers) }
}

// MARK: - Command line

extension Pix2PixOptions {
    /// pix2pix options from the command line: the networks (unet_256, batch norm, dropout unless told otherwise), the
    /// crop checked against them, the vanilla GAN and the loss weights. Colorization is the 1 → 2 channel case.
    init(_ networks: GANNetworkArguments, _ adversarial: AdversarialArguments, lambdaL1: Float, lambdaGan: Float,
         inputChannels: Int, outputChannels: Int, learningRate: Float, checking preprocessing: Preprocessing) throws {
        self.init()
        architecture = try networks.generator(default: "unet_256", normalization: .batch, dropout: true,
                                              inputChannels: inputChannels, outputChannels: outputChannels)
        discriminator = networks.discriminator(normalization: architecture.normalization)
        try GANNetworkArguments.checkCrop(preprocessing, generator: architecture, discriminator: lambdaGan > 0 ? discriminator : nil)
        ganMode = networks.gan(default: .vanilla)
        self.adversarial = try adversarial.options(learningRate: learningRate, mode: ganMode)
        self.lambdaL1 = lambdaL1
        lambdaGAN = lambdaGan
        colorization = architecture.isColorizer
    }
}

/// How pix2pix finds its pairs.
public enum PairLayout: String, CaseIterable, Sendable, ExpressibleByArgument {
    /// Side-by-side A|B images in DATAROOT/train (make them with `stylize combine`).
    case aligned
    /// DATAROOT/A and DATAROOT/B (or trainA/trainB), paired by file name.
    case paired
}

/// The options `stylize train pix2pix` adds to the shared ones.
public struct Pix2PixArguments: ParsableArguments {
    @OptionGroup(title: "Networks") public var networks: GANNetworkArguments
    @OptionGroup(title: "Domains") public var domains: PairedDataArguments
    @OptionGroup(title: "GAN training") public var adversarial: AdversarialArguments
    @Option(help: "How pairs are stored.") public var datasetMode: PairLayout = .aligned
    @Option(help: "Input folder, paired by name with --folder-b (instead of --dataroot).") public var folderA: String?
    @Option(help: "Target folder.") public var folderB: String?
    @Option(help: "Weight of the L1 term.") public var lambdaL1: Float = 100
    @Option(help: "Weight of the GAN term (0: L1 alone, no discriminator).") public var lambdaGan: Float = 1

    public init() {}

    public func validate() throws {
        guard (folderA == nil) == (folderB == nil) else { throw ValidationError("give both --folder-a and --folder-b") }
        guard lambdaL1 >= 0, lambdaGan >= 0 else { throw ValidationError("the lambdas must not be negative") }
    }
}

extension Pix2PixRecipe: RecipeDefinition {
    public static let commandName = "pix2pix"
    public static let abstract = "Paired translation: G(A) ≈ B with L1 and a conditional PatchGAN (--lambda-gan 0 for L1 alone)."
    public static let discussion = """
        Data: --dataroot DIR with DIR/train/ of side-by-side A|B images (aligned; make them with stylize combine), \
        or DIR/A and DIR/B (or trainA/trainB) paired by name (--dataset-mode paired); or --folder-a and --folder-b. \
        Writes latest_net_G.safetensors. Defaults (junyanz's pix2pix): unet_256, basic PatchGAN on (A, B), batch norm, \
        dropout, vanilla GAN, λ_L1 = 100, Adam 2e-4 (0.5, 0.999), 100 + 100 epochs.
        """

    public static func defaults(_ arguments: Pix2PixArguments) -> RecipeDefaults { .gan }

    public static func needsDataroot(_ arguments: Pix2PixArguments) -> Bool { arguments.folderA == nil }

    public static func networkDefinition(_ arguments: Pix2PixArguments) throws -> [(option: String, value: String)] {
        try arguments.networks.definition(default: "unet_256", normalization: .batch, dropout: true,
                                          inputChannels: arguments.domains.inputChannels, outputChannels: arguments.domains.outputChannels)
            + [("--lambda-gan", arguments.lambdaGan > 0 ? "> 0 (with a discriminator)" : "0 (no discriminator)")]
    }

    public static func prepare(_ arguments: Pix2PixArguments, data: ImageDataArguments, training: TrainingOptions) throws -> PreparedRecipe {
        let domains = arguments.domains
        let preprocessing = try data.preprocessing(defaults: .gan)
        let options = try Pix2PixOptions(arguments.networks, arguments.adversarial, lambdaL1: arguments.lambdaL1, lambdaGan: arguments.lambdaGan,
                                         inputChannels: domains.inputChannels, outputChannels: domains.outputChannels,
                                         learningRate: training.learningRate, checking: preprocessing)
        let dataset: any Dataset
        if let folderA = arguments.folderA, let folderB = arguments.folderB {
            dataset = try PairedFolderDataset(folderA: URL(fileURLWithPath: folderA), folderB: URL(fileURLWithPath: folderB),
                                              direction: domains.direction, preprocessing: preprocessing,
                                              inputChannels: domains.inputChannels, outputChannels: domains.outputChannels)
        } else if arguments.datasetMode == .paired {
            dataset = try PairedFolderDataset(root: try data.root(), direction: domains.direction, preprocessing: preprocessing,
                                              inputChannels: domains.inputChannels, outputChannels: domains.outputChannels)
        } else {
            dataset = try AlignedDataset(root: try data.root(), direction: domains.direction, preprocessing: preprocessing,
                                         inputChannels: domains.inputChannels, outputChannels: domains.outputChannels)
        }
        return PreparedRecipe(recipe: Pix2PixRecipe(options: options, training: training), dataset: dataset,
                              summary: "\(options.architecture.name) ngf \(options.architecture.filters), \(dataset.count) pairs")
    }
}
