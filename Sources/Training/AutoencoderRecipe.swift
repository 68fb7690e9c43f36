import ArgumentParser
import Datasets
import Foundation
import ImageIO
import Models
import NN
import Pipelines
import Tensor

/// Options of the KL-autoencoder recipe.
public struct AutoencoderOptions: Sendable {
    public var configuration = AutoencoderConfiguration()
    /// Weight of the KL term against the reconstruction term (latent diffusion: 1e-6, both summed per image).
    public var klWeight: Float = 1e-6
    /// Initial log-variance of the posterior (the bias of its log-variance head); nil keeps PyTorch's initialisation,
    /// which starts at about 0, so the decoder first sees latents buried in unit noise. A negative start (−6) lets a
    /// short run learn the reconstruction first; the KL term still acts on it.
    public var initialLogVariance: Float?
    /// Weight of latent diffusion's adversarial term: a PatchGAN (3 layers, batch norm) on reconstructions against
    /// photos, hinge loss, the autoencoder adding `ganWeight · −mean D(x̂)`. 0 (the default) trains without it.
    public var ganWeight: Float = 0
    /// Iterations of reconstruction alone before the adversarial term starts (latent diffusion: after a warm-up).
    public var ganStart = 2000
    /// Filters of the discriminator's first layer.
    public var discriminatorFilters = 64

    public init() {}
}

/// Trains latent diffusion's `AutoencoderKL`: loss = Σ|x − D(z)|/N + w·Σ KL(q(z|x) ‖ N(0, I))/N with z sampled from
/// the posterior (here divided by the pixel count, which Adam does not see). A running estimate of the latent
/// variance gives the scale factor stored with the model (latents × scale have unit variance).
public final class AutoencoderRecipe: TrainingRecipe {
    public let options: AutoencoderOptions
    public let random: RandomGenerator
    public let autoencoder: AutoencoderKL
    let optimizer: Adam
    /// The PatchGAN of the adversarial term and its optimiser (when `ganWeight > 0`).
    let discriminator: Module?
    let optimizerD: Adam?
    /// Running mean and mean square of the posterior means (exponential, 0.99).
    let latentMoments = Tensor(shape: [2], repeating: 0)
    /// Steps taken (for the adversarial warm-up; saved with the state).
    let stepCount = Tensor(shape: [1], repeating: 0)
    var latest: [(label: String, tensor: Tensor)] = []

    public init(options: AutoencoderOptions, training: TrainingOptions) {
        self.options = options
        random = RandomGenerator(seed: training.seed)
        autoencoder = AutoencoderKL(options.configuration, generator: random)
        if let start = options.initialLogVariance {
            let latent = options.configuration.latentChannels
            if let bias = autoencoder.namedParameters().first(where: { $0.name == "quant_conv.bias" })?.tensor {
                for channel in latent..<(2 * latent) { bias.pointer[channel] = start }
            }
        }
        optimizer = Adam(parameters: autoencoder.namedParameters(prefix: "VAE."), learningRate: training.learningRate,
                         beta1: training.beta1, beta2: training.beta2)
        (discriminator, optimizerD) = optionalDiscriminator(
            when: options.ganWeight > 0, DiscriminatorArchitecture(kind: .basic, filters: options.discriminatorFilters, normalization: .batch),
            inputChannels: 3, random: random, training: training)
    }

    public var modules: [String: Module] { adding(["VAE": autoencoder], "D", discriminator) }

    public var optimizers: [String: any Optimizer] { adding(["VAE": optimizer], "D", optimizerD) }

    public var lossNames: [String] { discriminator == nil ? ["L1", "KL", "latent_std"] : ["L1", "KL", "latent_std", "G_GAN", "D"] }
    public var visualLabels: [String] { ["real", "reconstructed"] }

    /// 1/std of the latents seen so far (1 before any step).
    public var scaleFactor: Float {
        let variance = latentMoments.pointer[1] - latentMoments.pointer[0] * latentMoments.pointer[0]
        return variance > 0 ? 1 / variance.squareRoot() : 1
    }

    public var exportedGenerators: [(name: String, module: Module, metadata: [String: String])] {
        [("VAE", autoencoder, AutoencoderKL.fileMetadata(options.configuration, scaleFactor: scaleFactor))]
    }

    public func step(_ batch: Batch) -> [String: Float] {
        autoencoder.train()
        let image = batch.a
        optimizer.zeroGrad()
        let posterior = autoencoder.encode(image)
        let reconstruction = autoencoder.decode(posterior.sample(generator: random))
        let reconstructionLoss = (reconstruction - image).abs().mean()
        let kl = posterior.klDivergence().mean() * (1 / Float(image.count / image.shape[0]))
        var loss = reconstructionLoss + kl * options.klWeight
        var adversarial: [String: Float] = [:]
        let adversarialActive = Int(stepCount.pointer[0]) >= options.ganStart
        if let discriminator, adversarialActive {
            discriminator.train()
            discriminator.setRequiresGradient(false)
            let generatorLoss = -discriminator(reconstruction).mean()
            loss = loss + generatorLoss * options.ganWeight
            adversarial["G_GAN"] = generatorLoss.item
        }
        loss.backward()
        optimizer.step()
        if let discriminator, let optimizerD, adversarialActive {
            // Hinge: mean relu(1 − D(x)) + mean relu(1 + D(x̂)), halved.
            discriminator.setRequiresGradient(true)
            optimizerD.zeroGrad()
            let realLoss = (1 - discriminator(image)).relu().mean(), fakeLoss = (1 + discriminator(reconstruction.detached())).relu().mean()
            let discriminatorLoss = (realLoss + fakeLoss) * 0.5
            discriminatorLoss.backward()
            optimizerD.step()
            adversarial["D"] = discriminatorLoss.item
        } else if discriminator != nil {
            adversarial = ["G_GAN": 0, "D": 0]
        }
        stepCount.pointer[0] += 1
        // Track the latent statistics (of the posterior mean, as encoding for diffusion uses).
        let mean = withoutGradient { posterior.mean.mean().item }, square = withoutGradient { (posterior.mean * posterior.mean).mean().item }
        let first = latentMoments.pointer[1] == 0
        latentMoments.pointer[0] = first ? mean : 0.99 * latentMoments.pointer[0] + 0.01 * mean
        latentMoments.pointer[1] = first ? square : 0.99 * latentMoments.pointer[1] + 0.01 * square
        latest = [("real", image.detached()), ("reconstructed", reconstruction.detached())]
        return ["L1": reconstructionLoss.item, "KL": kl.item * Float(image.count / image.shape[0]), "latent_std": 1 / scaleFactor]
            .merging(adversarial) { own, _ in own }
    }

    public func visuals() -> [(label: String, image: Image)] {
        latest.map { ($0.label, Image(tensor: $0.tensor.sliced(axis: 0, 0..<1).clamped(min: -1, max: 1))) }
    }

    public func buffers() -> [String: Tensor] { ["latent_moments": latentMoments, "steps": stepCount] }

    public func restore(buffers: [String: Tensor]) throws {
        if let saved = buffers["latent_moments"], saved.count == 2 { latentMoments.pointer.update(from: saved.pointer, count: 2) }
        if let saved = buffers["steps"], saved.count == 1 { stepCount.pointer[0] = saved.pointer[0] }
    }
}

// MARK: - Command line

/// The options `stylize train vae` adds to the shared ones.
public struct AutoencoderArguments: ParsableArguments {
    @Option(help: "Encoder/decoder design: ldm (latent diffusion's, full-resolution levels and attention) or pixel_shuffle (compact: residual blocks at 1/f of the resolution).") public var vaeStyle: AutoencoderStyle = .latentDiffusion
    @Option(help: "Channels of the first level (pixel_shuffle: of every block).") public var vaeChannels = 64
    @Option(help: "Channel multipliers per level, comma-separated (f = 2^(levels − 1)).") public var vaeMultipliers = IntegerList([1, 2, 4])
    @Option(help: "Residual blocks per level.") public var vaeBlocks = 2
    @Option(help: "Latent channels.") public var latentChannels = 4
    @Option(help: "Weight of the KL term.") public var klWeight: Float = 1e-6
    @Option(help: "Weight of the optional PatchGAN term (hinge loss, as latent diffusion's; 0: off).") public var ganWeight: Float = 0
    @Option(help: "Iterations of reconstruction alone before the PatchGAN term starts.") public var ganStart = 2000
    @Option(help: "Initial posterior log-variance (e.g. -6: learn the reconstruction first; default: PyTorch's initialisation, about 0).") public var initialLogVariance: Float?

    public init() {}

    public func validate() throws {
        guard vaeChannels >= 1, vaeBlocks >= 1, latentChannels >= 1, klWeight >= 0 else {
            throw ValidationError("--vae-channels, --vae-blocks and --latent-channels must be positive, --kl-weight not negative")
        }
        guard ganWeight >= 0, ganStart >= 0 else { throw ValidationError("--gan-weight and --gan-start must not be negative") }
    }

    var configuration: AutoencoderConfiguration {
        var configuration = AutoencoderConfiguration()
        configuration.channels = vaeChannels
        configuration.multipliers = vaeMultipliers.values
        configuration.blocksPerLevel = vaeBlocks
        configuration.latentChannels = latentChannels
        configuration.style = vaeStyle
        return configuration
    }
}

extension AutoencoderRecipe: RecipeDefinition {
    public static let commandName = "vae"
    public static let abstract = "Train latent diffusion's KL autoencoder (the latent space of sr and colorize)."
    public static let discussion = """
        Data: colour photos in DATAROOT/train or DATAROOT. Loss: L1 reconstruction + --kl-weight × KL of the \
        posterior to N(0, I), and with --gan-weight > 0 a PatchGAN hinge term from iteration --gan-start on (its \
        discriminator D is saved in the state). Writes latest_net_VAE.safetensors with its configuration and latent \
        scale factor (1/std of the latents), which stylize train sr|colorize --vae takes. Defaults: ch 64, \
        multipliers 1,2,4 (f = 4), 2 blocks per level, 4 latent channels, Adam 1e-4, batch 4, 128×128 crops of images \
        scaled to width 286, 100 epochs.
        """

    public static func defaults(_ arguments: AutoencoderArguments) -> RecipeDefaults { .latent }

    public static func networkDefinition(_ arguments: AutoencoderArguments) throws -> [(option: String, value: String)] {
        [("--vae-style", arguments.vaeStyle.rawValue), ("--vae-channels", String(arguments.vaeChannels)), ("--vae-multipliers", arguments.vaeMultipliers.description),
         ("--vae-blocks", String(arguments.vaeBlocks)), ("--latent-channels", String(arguments.latentChannels)),
         ("--gan-weight", arguments.ganWeight > 0 ? "> 0 (with a discriminator)" : "0 (none)")]
    }

    public static func prepare(_ arguments: AutoencoderArguments, data: ImageDataArguments, training: TrainingOptions) throws -> PreparedRecipe {
        var options = AutoencoderOptions()
        options.configuration = arguments.configuration
        options.klWeight = arguments.klWeight
        options.initialLogVariance = arguments.initialLogVariance
        options.ganWeight = arguments.ganWeight
        options.ganStart = arguments.ganStart
        let preprocessing = try data.preprocessing(defaults: .latent)
        let factor = options.configuration.downsamplingFactor
        guard preprocessing.cropSize % factor == 0 else {
            throw ValidationError("--crop-size \(preprocessing.cropSize) must be a multiple of f = \(factor)")
        }
        if arguments.ganWeight > 0, preprocessing.cropSize < 32 {
            throw ValidationError("--crop-size \(preprocessing.cropSize) is too small for the PatchGAN (--gan-weight): use at least 32")
        }
        let dataset = try photoDataset(data, preprocessing: preprocessing)
        let summary = "AutoencoderKL ch \(arguments.vaeChannels) × [\(arguments.vaeMultipliers)], f \(factor), "
            + "\(arguments.latentChannels) latent channels, \(dataset.count) photos"
        return PreparedRecipe(recipe: AutoencoderRecipe(options: options, training: training), dataset: dataset, summary: summary)
    }
}

/// The photos of a latent recipe: DATAROOT/train when it exists, else DATAROOT itself (subfolders included).
func photoDataset(_ data: ImageDataArguments, preprocessing: Preprocessing) throws -> SingleDataset {
    let root = try data.root()
    let train = root.appendingPathComponent("train")
    return try SingleDataset(folder: FileManager.default.fileExists(atPath: train.path) ? train : root, preprocessing: preprocessing)
}
