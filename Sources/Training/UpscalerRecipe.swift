import ArgumentParser
import Datasets
import Foundation
import ImageIO
import Models
import NN
import Tensor

/// Trains the stage-1 super-resolution estimator (``ResidualUpscaler``) with L1 on degraded/clean pairs: the
/// minimum-error prediction of the photo from its small version (PSNR is what it maximises). Exports
/// `latest_net_SR.safetensors` (a restoration model of stage 1 alone; `train sr --stage flow` adds stage 2).
public final class UpscalerRecipe: TrainingRecipe {
    public let random: RandomGenerator
    public let upscaler: ResidualUpscaler
    let optimizer: Adam
    var latest: Batch?
    var latestOutput: Tensor?

    public init(configuration: ResidualUpscalerConfiguration, training: TrainingOptions) {
        random = RandomGenerator(seed: training.seed)
        upscaler = ResidualUpscaler(configuration, generator: random)
        optimizer = Adam(parameters: upscaler.namedParameters(), learningRate: training.learningRate, beta1: training.beta1,
                         beta2: training.beta2)
    }

    public var modules: [String: Module] { ["SR": upscaler] }
    public var optimizers: [String: any Optimizer] { ["SR": optimizer] }
    public var lossNames: [String] { ["L1", "bicubic_L1"] }
    public var visualLabels: [String] { ["low", "bicubic", "output", "real"] }

    public var exportedGenerators: [(name: String, module: Module, metadata: [String: String])] {
        let model = RestorationModel(estimator: .upscaler(upscaler))
        return [("SR", model, model.metadata)]
    }

    public func step(_ batch: Batch) -> [String: Float] {
        guard let target = batch.b else { preconditionFailure("super-resolution needs (low, high) pairs") }
        upscaler.train()
        optimizer.zeroGrad()
        let output = upscaler(batch.a)
        let loss = Tensor.l1Loss(output, target)
        loss.backward()
        optimizer.step()
        let baseline = withoutGradient { Tensor.l1Loss(upscaler.bicubic(batch.a), target).item }
        latest = batch
        latestOutput = output.detached()
        return ["L1": loss.item, "bicubic_L1": baseline]
    }

    public func visuals() -> [(label: String, image: Image)] {
        guard let batch = latest, let output = latestOutput else { return [] }
        func first(_ tensor: Tensor) -> Image { Image(tensor: tensor.sliced(axis: 0, 0..<1).clamped(min: -1, max: 1)) }
        let low = batch.a.sliced(axis: 0, 0..<1)
        return [("low", first(low.upsampled(scale: upscaler.configuration.factor, mode: .nearest))),
                ("bicubic", first(upscaler.bicubic(low))), ("output", first(output)), ("real", first(batch.b!))]
    }
}

// MARK: - Command line

/// The stage-1 options of `stylize train sr`.
public struct UpscalerArguments: ParsableArguments {
    @Option(help: "Feature channels of the estimator.") public var estimatorChannels = 64
    @Option(help: "Residual blocks of the estimator.") public var estimatorBlocks = 8
    @Option(help: "Share of training inputs that are PIL bicubic ÷4 downscales; the rest are blurred, resized with another filter, noisy or JPEG-compressed.") public var cleanShare: Double = 0.5

    public init() {}

    public func validate() throws {
        guard estimatorChannels >= 1, estimatorBlocks >= 0 else { throw ValidationError("--estimator-channels must be positive") }
        guard (0...1).contains(cleanShare) else { throw ValidationError("--clean-share must be between 0 and 1") }
    }

    var configuration: ResidualUpscalerConfiguration {
        ResidualUpscalerConfiguration(factor: 4, channels: estimatorChannels, blocks: estimatorBlocks)
    }
}
