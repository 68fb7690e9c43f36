import ArgumentParser
import Datasets
import Foundation
import ImageIO
import Models
import NN
import Pipelines
import Tensor

/// Options of the latent-diffusion recipe.
public struct LatentDiffusionOptions: Sendable {
    public var task = LatentDiffusionTask.superResolution
    public var unet = DenoisingUNetConfiguration()
    public var schedule = NoiseSchedule.Kind.scaledLinear
    public var prediction = DiffusionPrediction.epsilon
    /// The largest noise standard deviation added to a low-resolution condition in training (its level is fed to
    /// the UNet; sampling uses level 0 unless asked). 0 disables the augmentation.
    public var conditionNoise: Float = 0.1
    public var emaDecay: Float = 0.999
    /// DDIM steps of the sample images on the run page.
    public var previewSteps = 20

    public init() {}
}

/// Trains a denoising UNet on the latents of a frozen KL autoencoder (DDPM: uniform t, MSE to ε or v), with EMA
/// weights for sampling; exports the autoencoder and the EMA UNet together as one model.
public final class LatentDiffusionRecipe: TrainingRecipe {
    public let options: LatentDiffusionOptions
    public let random: RandomGenerator
    public let autoencoder: AutoencoderKL
    public let scaleFactor: Float
    public let unet: DenoisingUNet
    let exportUNet: DenoisingUNet
    let schedule: NoiseSchedule
    let optimizer: Adam
    let average: ExponentialMovingAverage
    var latest: Batch?

    /// - Parameters: `autoencoder` and its latent `scaleFactor` come from a trained VAE and stay frozen.
    public init(options: LatentDiffusionOptions, autoencoder: AutoencoderKL, scaleFactor: Float, training: TrainingOptions) {
        self.options = options
        random = RandomGenerator(seed: training.seed)
        self.autoencoder = autoencoder
        self.scaleFactor = scaleFactor
        autoencoder.eval()
        autoencoder.setRequiresGradient(false)
        var configuration = options.unet
        let factor = autoencoder.configuration.downsamplingFactor, latent = autoencoder.configuration.latentChannels
        configuration.outputChannels = latent
        configuration.inputChannels = latent + LatentDiffusionModel.conditionChannels(task: options.task, factor: factor)
        configuration.conditionsOnNoiseLevel = options.task == .superResolution && options.conditionNoise > 0
        unet = DenoisingUNet(configuration, generator: random)
        exportUNet = DenoisingUNet(configuration, generator: RandomGenerator(seed: 0))
        schedule = NoiseSchedule(kind: options.schedule)
        optimizer = Adam(parameters: unet.namedParameters(prefix: "UNet."), learningRate: training.learningRate,
                         beta1: training.beta1, beta2: training.beta2)
        average = ExponentialMovingAverage(parameters: unet.namedParameters(), decay: options.emaDecay)
    }

    public var modules: [String: Module] { ["UNet": unet] }
    public var optimizers: [String: any Optimizer] { ["UNet": optimizer] }
    public var lossNames: [String] { ["MSE"] }
    public var visualLabels: [String] { ["condition", "sample", "real"] }

    var model: LatentDiffusionModel {
        try? average.copy(into: exportUNet)
        return LatentDiffusionModel(task: options.task, autoencoder: autoencoder, unet: exportUNet, scaleFactor: scaleFactor,
                                    schedule: schedule, prediction: options.prediction)
    }

    public var exportedGenerators: [(name: String, module: Module, metadata: [String: String])] {
        let model = self.model
        return [("LDM", model, model.metadata)]
    }

    public func step(_ batch: Batch) -> [String: Float] {
        unet.train()
        let image = batch.a, count = image.shape[0]
        let latents = withoutGradient { autoencoder.encode(image).mean * scaleFactor }
        var levels: [Float]? = nil
        var condition = LatentDiffusionModel.condition(for: image, task: options.task, factor: autoencoder.configuration.downsamplingFactor)
        if options.task == .superResolution && options.conditionNoise > 0 {
            let drawn = (0..<count).map { _ in Float(random.nextDouble()) * options.conditionNoise }
            let noise = Tensor.randomNormal(condition.shape, generator: random)
            let perSample = condition.count / count
            for sample in 0..<count {
                for index in (sample * perSample)..<((sample + 1) * perSample) { condition.pointer[index] += drawn[sample] * noise.pointer[index] }
            }
            condition = condition.copied()
            levels = drawn.map { $0 * 1000 }
        }
        let timesteps = (0..<count).map { _ in random.nextInt(below: schedule.trainingSteps) }
        let noise = Tensor.randomNormal(latents.shape, generator: random)
        let noisy = schedule.noised(latents, noise: noise, timesteps: timesteps)
        let target = schedule.target(options.prediction, clean: latents, noise: noise, timesteps: timesteps)
        optimizer.zeroGrad()
        let prediction = unet.forward(Tensor.concatenated([noisy, condition], axis: 1), timesteps: timesteps.map(Float.init),
                                      noiseLevels: levels)
        let loss = Tensor.mseLoss(prediction, target)
        loss.backward()
        optimizer.step()
        average.update()
        latest = batch
        return ["MSE": loss.item]
    }

    /// The first image of the latest batch: its condition, a DDIM sample with the EMA weights, and the original.
    public func visuals() -> [(label: String, image: Image)] {
        guard let latest else { return [] }
        let image = latest.a.sliced(axis: 0, 0..<1)
        let model = self.model
        let result = model.sample(image: image, steps: options.previewSteps, seed: 0)
        return [("condition", model.conditionPreview(for: image)), ("sample", result), ("real", Image(tensor: image))]
    }

    public func buffers() -> [String: Tensor] {
        Dictionary(uniqueKeysWithValues: average.shadows.map { ("ema." + $0.name, $0.tensor) })
    }

    public func restore(buffers: [String: Tensor]) throws {
        for shadow in average.shadows {
            guard let saved = buffers["ema." + shadow.name], saved.shape == shadow.tensor.shape else {
                throw TrainingError.incompatibleState("the saved state has no EMA weights of shape \(shadow.tensor.shape) for \(shadow.name)")
            }
            shadow.tensor.pointer.update(from: saved.pointer, count: saved.count)
        }
    }
}

// MARK: - Command line

/// The options of the latent-diffusion recipes (`train sr`, `train colorize --method diffusion`).
public struct LatentDiffusionArguments: ParsableArguments {
    @Option(help: "The trained autoencoder (latest_net_VAE.safetensors of stylize train vae).") public var vae: String?
    @Option(help: "UNet channels of the first level.") public var unetChannels = 64
    @Option(help: "UNet channel multipliers, comma-separated.") public var unetMultipliers = IntegerList([1, 2, 2])
    @Option(help: "UNet residual blocks per level.") public var unetBlocks = 2
    @Option(help: "UNet levels with self-attention, comma-separated (0 = the full latent grid), or none.") public var attentionLevels = LevelList([1, 2])
    @Option(help: "Noise schedule.") public var schedule: NoiseSchedule.Kind = .scaledLinear
    @Option(help: "What the UNet predicts.") public var prediction: DiffusionPrediction = .epsilon
    @Option(help: "EMA decay of the sampling weights.") public var ema: Float = 0.999
    @Option(help: "DDIM steps of the page's samples.") public var previewSteps = 20

    public init() {}

    public func validate() throws {
        guard (0..<1).contains(ema), unetChannels >= 1, unetBlocks >= 1, previewSteps >= 1 else {
            throw ValidationError("--ema must be in [0, 1); --unet-channels, --unet-blocks and --preview-steps positive")
        }
    }

    /// The network-defining options.
    public var definition: [(option: String, value: String)] {
        [("--vae", vae ?? "-"), ("--unet-channels", String(unetChannels)), ("--unet-multipliers", unetMultipliers.description),
         ("--unet-blocks", String(unetBlocks)), ("--attention-levels", attentionLevels.description), ("--schedule", schedule.rawValue),
         ("--prediction", prediction.defaultValueDescription)]
    }

    /// The recipe for `task` on the frozen autoencoder of --vae, and its photo dataset.
    func prepare(task: LatentDiffusionTask, conditionNoise: Float, data: ImageDataArguments, training: TrainingOptions) throws -> PreparedRecipe {
        guard let vae else { throw ValidationError("give --vae (the latest_net_VAE.safetensors of stylize train vae)") }
        var options = LatentDiffusionOptions()
        options.task = task
        options.conditionNoise = conditionNoise
        options.unet.channels = unetChannels
        options.unet.multipliers = unetMultipliers.values
        options.unet.blocksPerLevel = unetBlocks
        options.unet.attentionLevels = attentionLevels.values
        options.schedule = schedule
        options.prediction = prediction
        options.emaDecay = ema
        options.previewSteps = previewSteps
        let (autoencoder, scale) = try AutoencoderKL.load(contentsOf: URL(fileURLWithPath: vae))
        let preprocessing = try data.preprocessing(defaults: .latent)
        let factor = autoencoder.configuration.downsamplingFactor
        let multiple = factor * options.unet.sideMultiple
        guard preprocessing.cropSize % multiple == 0 else {
            throw ValidationError("--crop-size \(preprocessing.cropSize) must be a multiple of \(multiple) (f × the UNet's grid multiple)")
        }
        let dataset = try photoDataset(data, preprocessing: preprocessing)
        let what = task == .superResolution ? "super-resolution ×\(factor)" : "colorization"
        let summary = "\(what) UNet ch \(unetChannels) × [\(unetMultipliers)] on a VAE with f \(factor) "
            + "(scale \(String(format: "%.3f", scale))), \(dataset.count) photos"
        return PreparedRecipe(recipe: LatentDiffusionRecipe(options: options, autoencoder: autoencoder, scaleFactor: scale, training: training),
                              dataset: dataset, summary: summary)
    }
}

/// The options `stylize train sr` adds to the shared ones.
public struct SuperResolutionArguments: ParsableArguments {
    @OptionGroup(title: "Latent diffusion") public var diffusion: LatentDiffusionArguments
    @Option(help: "Largest noise level added to the condition in training (0: none).") public var conditionNoise: Float = 0.1

    public init() {}

    public func validate() throws {
        guard conditionNoise >= 0 else { throw ValidationError("--condition-noise must not be negative") }
    }
}

/// `stylize train sr`: the latent-diffusion recipe for ×f super-resolution.
public enum SuperResolutionDefinition: RecipeDefinition {
    public static let commandName = "sr"
    public static let abstract = "Train ×f super-resolution by latent diffusion on a trained VAE (f of the VAE, 4 by default)."
    public static let discussion = """
        Data: colour photos in DATAROOT/train or DATAROOT; each crop is the target, its f×f box average the \
        low-resolution condition (concatenated to the latent on the same grid, with Gaussian noise of a random \
        level up to --condition-noise whose level the UNet sees). DDPM training (uniform t, MSE to ε or v), Adam \
        1e-4, EMA weights. Writes latest_net_LDM.safetensors (autoencoder + EMA UNet) for stylize upscale --model.
        """

    public static func defaults(_ arguments: SuperResolutionArguments) -> RecipeDefaults { .latent }

    public static func networkDefinition(_ arguments: SuperResolutionArguments) throws -> [(option: String, value: String)] {
        arguments.diffusion.definition
    }

    public static func prepare(_ arguments: SuperResolutionArguments, data: ImageDataArguments, training: TrainingOptions) throws -> PreparedRecipe {
        try arguments.diffusion.prepare(task: .superResolution, conditionNoise: arguments.conditionNoise, data: data, training: training)
    }
}
