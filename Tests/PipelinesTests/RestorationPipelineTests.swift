import _TestSupport
import Foundation
import ImageIO
import Models
import NN
import Pipelines
import Tensor
import XCTest

final class RestorationPipelineTests: XCTestCase {
    /// Euler integration against the equations: a constant velocity c moves x by c; v = t moves it by Σ k/K² = (K−1)/2K.
    func testEulerIntegration() {
        let start = Tensor(shape: [1], scalars: [2])
        XCTAssertEqual(RestorationSampler.integrate(from: start, steps: 4) { x, _ in Tensor(shape: x.shape, repeating: 3) }.item, 5, accuracy: 1e-6)
        XCTAssertEqual(RestorationSampler.integrate(from: start, steps: 4) { x, t in Tensor(shape: x.shape, repeating: t) }.item, 2 + 3.0 / 8,
                       accuracy: 1e-6)
    }

    func model(flow: Bool, sigma: Float = 0.1) -> RestorationModel {
        let upscaler = ResidualUpscaler(ResidualUpscalerConfiguration(factor: 4, channels: 8, blocks: 1), generator: RandomGenerator(seed: 1))
        guard flow else { return RestorationModel(estimator: .upscaler(upscaler)) }
        var vae = TinyModels.autoencoder
        vae.style = .pixelShuffle
        vae.multipliers = [1, 2, 4]
        var configuration = LatentFlowConfiguration()
        configuration.unet = TinyModels.unet
        configuration.sigma = sigma
        return RestorationModel(estimator: .upscaler(upscaler),
                                flow: LatentFlow(configuration: configuration, autoencoder: AutoencoderKL(vae, generator: RandomGenerator(seed: 2)),
                                                 scaleFactor: 1, generator: RandomGenerator(seed: 3)))
    }

    let low = Image(tensor: Tensor.randomUniform([1, 3, 12, 10], low: -0.8, high: 0.8, generator: RandomGenerator(seed: 4)))

    /// The knob's ends: detail 0 (or no flow) is the estimate; without back-projection detail 1 is the flow's image;
    /// seeded sampling repeats and another seed differs.
    func testDetailEndsAndSeeds() {
        let twoStage = RestorationPipeline(model: model(flow: true))
        let estimate = RestorationPipeline(model: model(flow: false)).upscale(low, detail: 1, steps: 2, seed: 0, consistencySteps: 0)
        XCTAssertEqual(twoStage.upscale(low, detail: 0, steps: 2, seed: 0, consistencySteps: 0), estimate)
        let full = twoStage.upscale(low, detail: 1, steps: 2, seed: 5, consistencySteps: 0)
        XCTAssertEqual([full.width, full.height], [40, 48])
        XCTAssertNotEqual(full, estimate)
        XCTAssertEqual(twoStage.upscale(low, detail: 1, steps: 2, seed: 5, consistencySteps: 0), full, "seeded")
        XCTAssertNotEqual(twoStage.upscale(low, detail: 1, steps: 2, seed: 6, consistencySteps: 0), full)
        // Half the detail lies between the two (before rounding to 8 bits, exactly halfway).
        let half = twoStage.upscale(low, detail: 0.5, steps: 2, seed: 5, consistencySteps: 0)
        var worst = 0
        for index in half.samples.indices {
            let sum = Int(estimate.samples[index]) + Int(full.samples[index])
            worst = max(worst, abs(sum - 2 * Int(half.samples[index])))
        }
        XCTAssertLessThanOrEqual(worst, 2)
    }

    /// Back-projection ties the output to the input under PIL's bicubic ÷4: the consistency PSNR rises well above that
    /// of the raw output.
    func testBackProjectionMakesTheOutputConsistent() {
        let pipeline = RestorationPipeline(model: model(flow: true))
        let raw = pipeline.upscale(low, detail: 1, steps: 2, seed: 0, consistencySteps: 0)
        let projected = pipeline.upscale(low, detail: 1, steps: 2, seed: 0, consistencySteps: 6)
        func consistency(_ image: Image) -> Double { ImageMetrics.psnr(low, image.resized(width: 10, height: 12, filter: .bicubic)) }
        XCTAssertGreaterThan(consistency(projected), consistency(raw) + 10)
        XCTAssertGreaterThan(consistency(projected), 30)
    }

    /// With σ = 0, sampled in latent tiles against whole: the same image where the flow sees the same context (the UNet
    /// here is untrained, so tiles differ a little at their seams; the blend keeps that small).
    func testTiledAgainstWholeSampling() {
        let estimate = Tensor.randomUniform([1, 3, 48, 64], low: -1, high: 1, generator: RandomGenerator(seed: 8))
        guard let flow = model(flow: true, sigma: 0).flow else { return XCTFail() }
        let whole = RestorationSampler(flow: flow, tiling: LatentTiling(side: 64, overlap: 0)).refine(estimate: estimate, steps: 2, seed: 0)
        let tiled = RestorationSampler(flow: flow, tiling: LatentTiling(side: 8, overlap: 4)).refine(estimate: estimate, steps: 2, seed: 0)
        XCTAssertEqual(tiled.shape, whole.shape)
        let meanSquare = Double(withoutGradient { ((tiled - whole) * (tiled - whole)).mean().item }) / 4
        XCTAssertGreaterThan(10 * log10(1 / meanSquare), 25, "tiled vs whole PSNR")
    }
}
