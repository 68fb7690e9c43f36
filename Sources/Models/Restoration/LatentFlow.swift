import Foundation
import NN
import Tensor

/// Configuration of a ``LatentFlow``: its velocity UNet and the noise added to the estimate's latent.
public struct LatentFlowConfiguration: Equatable, Sendable, Codable {
    public var unet = DenoisingUNetConfiguration()
    /// σ of the Gaussian noise added to the scaled latent of the stage-1 estimate at t = 0 (PMRF uses about 0.1 of the
    /// data's scale): without it the flow from a deterministic estimate cannot add varied detail.
    public var sigma: Float = 0.1

    public init() {}
}

/// Stage 2 of a two-stage restoration model: a rectified flow (Liu et al. 2022) in a KL autoencoder's latent space,
/// from the stage-1 estimate's latent plus σ·noise at t = 0 to the image's latent at t = 1. A UNet predicts the
/// velocity v(x_t, t | c) ≈ z₁ − z₀ given the estimate's latent c (concatenated); sampling takes K Euler steps.
public final class LatentFlow {
    public let configuration: LatentFlowConfiguration
    public let autoencoder: AutoencoderKL
    /// Latents × this have about unit variance (the autoencoder's).
    public let scaleFactor: Float
    public let unet: DenoisingUNet

    public init(configuration: LatentFlowConfiguration, autoencoder: AutoencoderKL, scaleFactor: Float, generator: RandomGenerator = .shared) {
        var configuration = configuration
        let latent = autoencoder.configuration.latentChannels
        configuration.unet.inputChannels = 2 * latent
        configuration.unet.outputChannels = latent
        configuration.unet.conditionsOnNoiseLevel = false
        self.configuration = configuration
        self.autoencoder = autoencoder
        self.scaleFactor = scaleFactor
        unet = DenoisingUNet(configuration.unet, generator: generator)
    }

    /// The flow's part of a model file's metadata.
    public var metadata: [String: String] {
        ["flow": ModelMetadata.json(configuration), "autoencoder": ModelMetadata.json(autoencoder.configuration), "scale_factor": String(scaleFactor)]
    }

    /// The (untrained) flow a model file describes; its weights are loaded with the model's.
    public convenience init(metadata: [String: String], path: String) throws {
        let failure = { (key: String) -> Error in RestorationError.badMetadata(path: path, key: key) }
        let configuration = try ModelMetadata.decode(LatentFlowConfiguration.self, "flow", in: metadata, failure: failure)
        let vae = try ModelMetadata.decode(AutoencoderConfiguration.self, "autoencoder", in: metadata, failure: failure)
        guard let scale = metadata["scale_factor"].flatMap(Float.init), scale > 0, scale.isFinite else {
            throw RestorationError.badMetadata(path: path, key: "scale_factor")
        }
        self.init(configuration: configuration, autoencoder: AutoencoderKL(vae, generator: RandomGenerator(seed: 0)), scaleFactor: scale,
                  generator: RandomGenerator(seed: 0))
    }

    /// The scaled latent (posterior mean × scale) of images `[N, 3, H, W]` in [−1, 1] (sides multiples of f).
    public func encode(_ image: Tensor) -> Tensor { autoencoder.encode(image).mean * scaleFactor }

    /// Images `[N, 3, H, W]` of scaled latents.
    public func decode(_ latent: Tensor) -> Tensor { autoencoder.decode(latent * (1 / scaleFactor)) }

    /// The velocity at `x` `[N, C, h, w]`, time t ∈ [0, 1] (one per sample), given the estimate's latent `condition`.
    public func velocity(_ x: Tensor, times: [Float], condition: Tensor) -> Tensor {
        unet.forward(Tensor.concatenated([x, condition], axis: 1), timesteps: times.map { $0 * 1000 }, noiseLevels: nil)
    }
}
