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
        [("VAE", autoencoder, LatentDiffusionMetadata.autoencoder(options.configuration, scaleFactor: scaleFactor))]
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

/// Model-file metadata of the latent-diffusion models.
public enum LatentDiffusionMetadata {
    public static func autoencoder(_ configuration: AutoencoderConfiguration, scaleFactor: Float) -> [String: String] {
        let encoded = (try? JSONEncoder().encode(configuration)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return ["kind": "autoencoder_kl", "autoencoder": encoded, "scale_factor": String(scaleFactor)]
    }
}
