import ArgumentParser
import Datasets
import Foundation
import ImageIO
import Models
import NN
import Pipelines
import Tensor

/// Trains stage 2 of a two-stage restoration model: the rectified flow in a frozen VAE's latent from the frozen
/// stage-1 estimate (plus σ·noise) to the photo. Per step: z_est = E(estimate), z₁ = E(photo), z₀ = z_est + σ·ε,
/// t ~ U(0, 1), x_t = (1 − t)·z₀ + t·z₁, loss = ‖v(x_t, t | z_est) − (z₁ − z₀)‖². EMA weights are exported with the
/// estimator and the VAE as one restoration model.
public final class LatentFlowRecipe: TrainingRecipe {
    public let random: RandomGenerator
    public let estimator: RestorationEstimator
    public let flow: LatentFlow
    let exportFlow: LatentFlow
    let optimizer: Adam
    let average: ExponentialMovingAverage
    let previewSteps: Int
    var latest: (estimate: Tensor, target: Tensor, condition: Tensor?)?

    public init(estimator: RestorationEstimator, configuration: LatentFlowConfiguration, autoencoder: AutoencoderKL, scaleFactor: Float,
                previewSteps: Int, training: TrainingOptions) {
        random = RandomGenerator(seed: training.seed)
        self.estimator = estimator
        estimator.module.eval()
        estimator.module.setRequiresGradient(false)
        autoencoder.eval()
        autoencoder.setRequiresGradient(false)
        flow = LatentFlow(configuration: configuration, autoencoder: autoencoder, scaleFactor: scaleFactor, generator: random)
        exportFlow = LatentFlow(configuration: configuration, autoencoder: autoencoder, scaleFactor: scaleFactor, generator: RandomGenerator(seed: 0))
        optimizer = Adam(parameters: flow.unet.namedParameters(prefix: "flow."), learningRate: training.learningRate, beta1: training.beta1,
                         beta2: training.beta2)
        average = ExponentialMovingAverage(parameters: flow.unet.namedParameters(), decay: 0.999)
        self.previewSteps = previewSteps
    }

    /// "UNet ch 64 × [1,2] on a VAE with 16 latent channels (σ 0.1)".
    public var summary: String {
        let unet = flow.configuration.unet
        return "UNet ch \(unet.channels) × \(unet.multipliers) on a VAE with \(flow.autoencoder.configuration.latentChannels) latent channels "
            + "(σ \(flow.configuration.sigma))"
    }

    public var modules: [String: Module] { ["flow": flow.unet] }
    public var optimizers: [String: any Optimizer] { ["flow": optimizer] }
    public var lossNames: [String] { ["MSE"] }
    public var visualLabels: [String] { ["estimate", "flow", "real"] }

    public var exportedGenerators: [(name: String, module: Module, metadata: [String: String])] {
        try? average.copy(into: exportFlow.unet)
        let model = RestorationModel(estimator: estimator, flow: exportFlow)
        return [(estimator.task == .superResolution ? "SR" : "colorize", model, model.metadata)]
    }

    /// The stage-1 estimate of a batch (no gradient) and the target photos, both `[N, 3, H, W]` in [−1, 1].
    func estimateAndTarget(_ batch: Batch) -> (estimate: Tensor, target: Tensor) {
        withoutGradient {
            switch estimator {
            case .upscaler(let network):
                return (network(batch.a).clamped(min: -1, max: 1), batch.b!)
            case .chroma(let network):
                let lightness = LabEncoding.lightness(ofRGB: batch.a)
                return (LabEncoding.rgb(lightness: lightness, chroma: network.chroma(for: lightness)), batch.a)
            }
        }
    }

    public func step(_ batch: Batch) -> [String: Float] {
        flow.unet.train()
        let (estimate, target) = estimateAndTarget(batch)
        let (condition, z1) = withoutGradient { (flow.encode(estimate), flow.encode(target)) }
        let z0 = withoutGradient { condition + Tensor.randomNormal(condition.shape, generator: random) * flow.configuration.sigma }
        let batchSize = condition.shape[0]
        let times = (0..<batchSize).map { _ in Float(random.nextDouble()) }
        let t = Tensor(shape: [batchSize, 1, 1, 1], scalars: times)
        let xt = withoutGradient { z0 * (1 - t) + z1 * t }
        optimizer.zeroGrad()
        let loss = Tensor.mseLoss(flow.velocity(xt, times: times, condition: condition), withoutGradient { z1 - z0 })
        loss.backward()
        optimizer.step()
        average.update()
        latest = (estimate.sliced(axis: 0, 0..<1).copied(), target.sliced(axis: 0, 0..<1).copied(), nil)
        return ["MSE": loss.item]
    }

    public func visuals() -> [(label: String, image: Image)] {
        guard let latest else { return [] }
        try? average.copy(into: exportFlow.unet)
        let sample = RestorationSampler(flow: exportFlow).refine(estimate: latest.estimate, steps: previewSteps, seed: 0)
        return [("estimate", Image(tensor: latest.estimate)), ("flow", Image(tensor: sample)), ("real", Image(tensor: latest.target))]
    }

    public func buffers() -> [String: Tensor] { average.buffers(prefix: "ema.") }
    public func restore(buffers: [String: Tensor]) throws { try average.restore(buffers: buffers, prefix: "ema.") }
}

// MARK: - Command line

/// The stage-2 options of `stylize train sr|colorize --stage flow`.
public struct LatentFlowArguments: ParsableArguments {
    @Option(help: "The stage-1 model (latest_net_*.safetensors of --stage estimator).") public var estimator: String?
    @Option(help: "The trained autoencoder (latest_net_VAE.safetensors of stylize train vae).") public var vae: String?
    @Option(help: "Flow UNet channels of the first level.") public var flowChannels = 64
    @Option(help: "Flow UNet channel multipliers, comma-separated.") public var flowMultipliers = IntegerList([1, 2])
    @Option(help: "Flow UNet residual blocks per level.") public var flowBlocks = 1
    @Option(help: "Flow UNet levels with self-attention, comma-separated, or none.") public var flowAttention = LevelList([1])
    @Option(help: "σ of the noise added to the estimate's (unit-variance) latent at t = 0.") public var sigma: Float = 0.1
    @Option(help: "Euler steps of the page's samples.") public var previewSteps = 4

    public init() {}

    public func validate() throws {
        guard flowChannels >= 1, flowBlocks >= 1, previewSteps >= 1, sigma >= 0 else {
            throw ValidationError("--flow-channels, --flow-blocks and --preview-steps must be positive, --sigma not negative")
        }
    }

    public var definition: [(option: String, value: String)] {
        [("--estimator", estimator ?? "-"), ("--vae", vae ?? "-"), ("--flow-channels", String(flowChannels)),
         ("--flow-multipliers", flowMultipliers.description), ("--flow-blocks", String(flowBlocks)),
         ("--flow-attention", flowAttention.description)]
    }

    /// The flow recipe on the frozen estimator and VAE the options name.
    func recipe(task: LatentDiffusionTask, training: TrainingOptions) throws -> LatentFlowRecipe {
        guard let estimator else { throw ValidationError("give --estimator (the stage-1 model of --stage estimator)") }
        guard let vae else { throw ValidationError("give --vae (the latest_net_VAE.safetensors of stylize train vae)") }
        let stage1 = try RestorationModel.load(contentsOf: URL(fileURLWithPath: estimator))
        guard stage1.task == task else {
            throw ValidationError("\(estimator) is a \(stage1.task.rawValue) model; this run needs a \(task.rawValue) estimator")
        }
        let (autoencoder, scale) = try AutoencoderKL.load(contentsOf: URL(fileURLWithPath: vae))
        var configuration = LatentFlowConfiguration()
        configuration.unet.channels = flowChannels
        configuration.unet.multipliers = flowMultipliers.values
        configuration.unet.blocksPerLevel = flowBlocks
        configuration.unet.attentionLevels = flowAttention.values
        configuration.sigma = sigma
        return LatentFlowRecipe(estimator: stage1.estimator, configuration: configuration, autoencoder: autoencoder, scaleFactor: scale,
                                previewSteps: previewSteps, training: training)
    }
}
