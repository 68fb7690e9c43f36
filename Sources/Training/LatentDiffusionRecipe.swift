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

    public func buffers() -> [String: Tensor] { average.buffers(prefix: "ema.") }
    public func restore(buffers: [String: Tensor]) throws { try average.restore(buffers: buffers, prefix: "ema.") }
}
