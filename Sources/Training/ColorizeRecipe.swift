import ArgumentParser
import Datasets
import Foundation
import Models

/// How a colorizer is made: two-stage (an estimator, then a latent flow), or a pix2pix GAN.
public enum ColorizationMethod: String, CaseIterable, Sendable, ExpressibleByArgument {
    /// Stage 1 predicts a distribution over ab bins (annealed mean); stage 2 a rectified flow in a VAE's latent.
    case diffusion
    /// pix2pix from the L plane to the ab planes (1 → 2 channels), as junyanz's colorization model.
    case gan
}

/// The options `stylize train colorize` adds to the shared ones: the method and each method's options.
public struct ColorizeArguments: ParsableArguments {
    @Option(help: "How the colorizer is made.") public var method: ColorizationMethod = .diffusion
    @Option(help: "--method diffusion: which stage to train.") public var stage: RestorationStage = .estimator
    @OptionGroup(title: "--method diffusion --stage estimator") public var estimator: ChromaArguments
    @OptionGroup(title: "--method diffusion --stage flow") public var flow: LatentFlowArguments
    @OptionGroup(title: "--method gan") public var networks: GANNetworkArguments
    @OptionGroup(title: "--method gan: GAN training") public var adversarial: AdversarialArguments
    @Option(help: "--method gan: weight of the L1 term.") public var lambdaL1: Float = 100
    @Option(help: "--method gan: weight of the GAN term (0: no discriminator).") public var lambdaGan: Float = 1

    public init() {}

    public func validate() throws {
        guard lambdaL1 >= 0, lambdaGan >= 0 else { throw ValidationError("the lambdas must not be negative") }
    }
}

/// `stylize train colorize`: one concept, two methods.
public enum ColorizeDefinition: RecipeDefinition {
    public static let commandName = "colorize"
    public static let abstract = "Train a colorizer from colour photos: two-stage (default: estimator, then --stage flow) or a pix2pix GAN (--method gan)."
    public static let discussion = """
        Data: colour photos in DATAROOT/train or DATAROOT. Either way the output keeps each photo's lightness exactly \
        and only the colour is made. --method diffusion --stage estimator: a network predicts a distribution over \
        quantised ab at ¼ resolution (class-rebalanced cross-entropy, Zhang et al. 2016; Adam 3e-4, batch 16, photos \
        scaled to width 286 and cropped to 256) and writes latest_net_colorize.safetensors; --stage flow --estimator \
        FILE --vae FILE adds the latent rectified flow. --method gan: pix2pix from the L plane to the ab planes \
        (unet_256, basic PatchGAN, batch norm, vanilla GAN, λ_L1 = 100, Adam 2e-4, batch 1, 286 → 256); writes \
        latest_net_G.safetensors. All apply with stylize colorize --model FILE.
        """

    public static func defaults(_ arguments: ColorizeArguments) -> RecipeDefaults {
        switch (arguments.method, arguments.stage) {
        case (.gan, _): return .gan
        case (.diffusion, .estimator):
            return RecipeDefaults(learningRate: 3e-4, epochs: 100, decayEpochs: 0, batchSize: 16, preprocess: .scaleWidthAndCrop,
                                  loadSize: 286, cropSize: 256)
        case (.diffusion, .flow):
            return RecipeDefaults(learningRate: 2e-4, epochs: 100, decayEpochs: 0, batchSize: 8, preprocess: .crop, loadSize: 286, cropSize: 128)
        }
    }

    public static func networkDefinition(_ arguments: ColorizeArguments) throws -> [(option: String, value: String)] {
        switch (arguments.method, arguments.stage) {
        case (.diffusion, .estimator):
            return [("--method", "diffusion"), ("--stage", "estimator"), ("--estimator-channels", arguments.estimator.estimatorChannels.description),
                    ("--estimator-blocks", String(arguments.estimator.estimatorBlocks))]
        case (.diffusion, .flow): return [("--method", "diffusion"), ("--stage", "flow")] + arguments.flow.definition
        case (.gan, _):
            return [("--method", "gan")]
                + (try arguments.networks.definition(default: "unet_256", normalization: .batch, dropout: true, inputChannels: 1, outputChannels: 2))
                + [("--lambda-gan", arguments.lambdaGan > 0 ? "> 0 (with a discriminator)" : "0 (no discriminator)")]
        }
    }

    public static func prepare(_ arguments: ColorizeArguments, data: ImageDataArguments, training: TrainingOptions) throws -> PreparedRecipe {
        let preprocessing = try data.preprocessing(defaults: defaults(arguments))
        switch (arguments.method, arguments.stage) {
        case (.diffusion, .estimator):
            guard preprocessing.cropSize % 16 == 0 else { throw ValidationError("--crop-size \(preprocessing.cropSize) must be a multiple of 16") }
            let dataset = try SingleDataset(folder: try photoFolder(data), preprocessing: preprocessing)
            var configuration = ChromaClassifierConfiguration()
            configuration.channels = arguments.estimator.estimatorChannels.values
            configuration.blocks = arguments.estimator.estimatorBlocks
            configuration.binWeights = try ChromaRecipe.rebalancingWeights(for: dataset.paths, bins: configuration.bins)
            return PreparedRecipe(recipe: ChromaRecipe(configuration: configuration, training: training), dataset: dataset,
                                  summary: "colorization estimator ch \(configuration.channels), \(configuration.bins.count) ab bins, \(dataset.count) photos")
        case (.diffusion, .flow):
            guard preprocessing.cropSize % 16 == 0 else { throw ValidationError("--crop-size \(preprocessing.cropSize) must be a multiple of 16") }
            let dataset = try SingleDataset(folder: try photoFolder(data), preprocessing: preprocessing)
            let recipe = try arguments.flow.recipe(task: .colorization, training: training)
            return PreparedRecipe(recipe: recipe, dataset: dataset, summary: "colorization latent flow \(recipe.summary), \(dataset.count) photos")
        case (.gan, _):
            let options = try Pix2PixOptions(arguments.networks, arguments.adversarial, lambdaL1: arguments.lambdaL1, lambdaGan: arguments.lambdaGan,
                                             inputChannels: 1, outputChannels: 2, learningRate: training.learningRate, checking: preprocessing)
            let root = try data.root()
            let phase = FileManager.default.fileExists(atPath: root.appendingPathComponent("train").path) ? "train" : ""
            let dataset = try ColorizationDataset(root: root, phase: phase, preprocessing: preprocessing)
            return PreparedRecipe(recipe: Pix2PixRecipe(options: options, training: training), dataset: dataset,
                                  summary: "\(options.architecture.name) ngf \(options.architecture.filters) L → ab, \(dataset.count) photos")
        }
    }
}
