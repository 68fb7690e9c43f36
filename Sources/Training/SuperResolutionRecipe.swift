import ArgumentParser
import Datasets
import Foundation
import ImageIO
import Models

/// Which stage of a two-stage restoration model a run trains.
public enum RestorationStage: String, CaseIterable, Sendable, ExpressibleByArgument {
    /// Stage 1: the minimum-error estimator (fast; what `--detail 0` gives).
    case estimator
    /// Stage 2: the latent rectified flow from the estimate to the photo (needs --estimator and --vae).
    case flow
}

/// The options `stylize train sr` adds to the shared ones.
public struct SuperResolutionArguments: ParsableArguments {
    @Option(help: "Which stage to train.") public var stage: RestorationStage = .estimator
    @OptionGroup(title: "Stage 1 (--stage estimator)") public var estimator: UpscalerArguments
    @OptionGroup(title: "Stage 2 (--stage flow)") public var flow: LatentFlowArguments

    public init() {}
}

/// `stylize train sr`: ×4 super-resolution in two stages (PMRF): a residual estimator over bicubic, then a latent flow.
public enum SuperResolutionDefinition: RecipeDefinition {
    public static let commandName = "sr"
    public static let abstract = "Train ×4 super-resolution: stage 1 an estimator over bicubic (default), stage 2 a latent flow (--stage flow)."
    public static let discussion = """
        Data: colour photos in DATAROOT/train or DATAROOT. Each crop is the target; its input is a ÷4 degradation \
        (half PIL bicubic downscales, half blurred/other-filter/noisy/JPEG ones: --clean-share). --stage estimator \
        trains the residual network over bicubic with L1 (Adam 2e-4, batch 16, 128 crops from the unresized photos) \
        and writes latest_net_SR.safetensors, usable by stylize upscale --model at once. --stage flow --estimator \
        FILE --vae FILE trains the rectified flow in the VAE's latent from the estimate to the photo and writes the \
        two-stage model (stylize upscale --detail sets how much of it to use).
        """

    public static func defaults(_ arguments: SuperResolutionArguments) -> RecipeDefaults {
        RecipeDefaults(learningRate: 2e-4, epochs: 100, decayEpochs: 0, batchSize: 16, preprocess: .crop, loadSize: 286, cropSize: 128)
    }

    public static func networkDefinition(_ arguments: SuperResolutionArguments) throws -> [(option: String, value: String)] {
        switch arguments.stage {
        case .estimator:
            return [("--stage", "estimator"), ("--estimator-channels", String(arguments.estimator.estimatorChannels)),
                    ("--estimator-blocks", String(arguments.estimator.estimatorBlocks))]
        case .flow: return [("--stage", "flow")] + arguments.flow.definition
        }
    }

    public static func prepare(_ arguments: SuperResolutionArguments, data: ImageDataArguments, training: TrainingOptions) throws -> PreparedRecipe {
        let preprocessing = try data.preprocessing(defaults: defaults(arguments))
        guard preprocessing.cropSize % 16 == 0 else { throw ValidationError("--crop-size \(preprocessing.cropSize) must be a multiple of 16") }
        let dataset = try SuperResolutionDataset(folder: try photoFolder(data), preprocessing: preprocessing,
                                                 degradation: Degradation(factor: 4, cleanProbability: arguments.estimator.cleanShare))
        switch arguments.stage {
        case .estimator:
            let configuration = arguments.estimator.configuration
            return PreparedRecipe(recipe: UpscalerRecipe(configuration: configuration, training: training), dataset: dataset,
                                  summary: "×4 estimator ch \(configuration.channels) × \(configuration.blocks) blocks, \(dataset.count) photos")
        case .flow:
            let recipe = try arguments.flow.recipe(task: .superResolution, training: training)
            return PreparedRecipe(recipe: recipe, dataset: dataset, summary: "×4 latent flow \(recipe.summary), \(dataset.count) photos")
        }
    }
}

/// DATAROOT/train when it exists, else DATAROOT.
func photoFolder(_ data: ImageDataArguments) throws -> URL {
    let root = try data.root()
    let train = root.appendingPathComponent("train")
    return FileManager.default.fileExists(atPath: train.path) ? train : root
}
