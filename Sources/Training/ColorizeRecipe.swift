import ArgumentParser
import Datasets
import Foundation
import Models

/// How a colorizer is made: sampled by latent diffusion, or predicted by a pix2pix GAN.
public enum ColorizationMethod: String, CaseIterable, Sendable, ExpressibleByArgument {
    /// A UNet on a trained VAE's latents samples the chroma given the lightness (needs --vae).
    case diffusion
    /// pix2pix from the L plane to the ab planes (1 → 2 channels), as junyanz's colorization model.
    case gan
}

/// The options `stylize train colorize` adds to the shared ones: the method and each method's options.
public struct ColorizeArguments: ParsableArguments {
    @Option(help: "How the colorizer is made.") public var method: ColorizationMethod = .diffusion
    @OptionGroup(title: "--method diffusion") public var diffusion: LatentDiffusionArguments
    @OptionGroup(title: "--method gan") public var networks: GANNetworkArguments
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
    public static let abstract = "Train a colorizer from colour photos: by latent diffusion (default) or as a pix2pix GAN (--method gan)."
    public static let discussion = """
        Data: colour photos in DATAROOT/train or DATAROOT. Either way the output keeps each photo's lightness exactly \
        and only the colour is made. --method diffusion (needs --vae from stylize train vae): the lightness, \
        space-to-depth onto the latent grid, conditions a denoising UNet; writes latest_net_LDM.safetensors; defaults \
        as train sr (Adam 1e-4, batch 4, 128 crops). --method gan: pix2pix from the L plane to the ab planes \
        (unet_256, basic PatchGAN, batch norm, vanilla GAN, λ_L1 = 100, Adam 2e-4, batch 1, 286 → 256); writes \
        latest_net_G.safetensors. Both apply with stylize colorize --model FILE.
        """

    public static func defaults(_ arguments: ColorizeArguments) -> RecipeDefaults { arguments.method == .gan ? .gan : .latent }

    public static func networkDefinition(_ arguments: ColorizeArguments) throws -> [(option: String, value: String)] {
        switch arguments.method {
        case .diffusion: return [("--method", "diffusion")] + arguments.diffusion.definition
        case .gan:
            return [("--method", "gan")]
                + (try arguments.networks.definition(default: "unet_256", normalization: .batch, dropout: true, inputChannels: 1, outputChannels: 2))
                + [("--lambda-gan", arguments.lambdaGan > 0 ? "> 0 (with a discriminator)" : "0 (no discriminator)")]
        }
    }

    public static func prepare(_ arguments: ColorizeArguments, data: ImageDataArguments, training: TrainingOptions) throws -> PreparedRecipe {
        guard arguments.method == .gan else {
            return try arguments.diffusion.prepare(task: .colorization, conditionNoise: 0, data: data, training: training)
        }
        let preprocessing = try data.preprocessing(defaults: .gan)
        let options = try Pix2PixOptions(arguments.networks, lambdaL1: arguments.lambdaL1, lambdaGan: arguments.lambdaGan,
                                         inputChannels: 1, outputChannels: 2, checking: preprocessing)
        let root = try data.root()
        let phase = FileManager.default.fileExists(atPath: root.appendingPathComponent("train").path) ? "train" : ""
        let dataset = try ColorizationDataset(root: root, phase: phase, preprocessing: preprocessing)
        return PreparedRecipe(recipe: Pix2PixRecipe(options: options, training: training), dataset: dataset,
                              summary: "\(options.architecture.name) ngf \(options.architecture.filters) L → ab, \(dataset.count) photos")
    }
}
