import _TestSupport
import Foundation
import ImageIO
import Models
import NN
import Tensor
import XCTest

final class RestorationModelTests: XCTestCase {
    func testSpaceToDepthAndBackAreInverse() {
        let x = seededNormal([2, 3, 8, 12], seed: 1)
        let packed = spaceToDepth(x, factor: 4)
        XCTAssertEqual(packed.shape, [2, 48, 2, 3])
        XCTAssertEqual(maximumDifference(depthToSpace(packed, factor: 4), x), 0)
        // Channel c·16 + 4i + j holds pixel (4y + i, 4x + j) of channel c.
        XCTAssertEqual(packed.pointer[(0 * 48 + 5) * 6 + 0], x.pointer[(0 * 3 + 0) * 96 + 1 * 12 + 1])
    }

    /// An untrained estimator is exactly bicubic (zero tail), ×f in size, and its head receives gradients.
    func testUpscalerStartsAsBicubic() {
        let upscaler = ResidualUpscaler(ResidualUpscalerConfiguration(factor: 4, channels: 8, blocks: 2), generator: RandomGenerator(seed: 2))
        let low = Tensor.randomUniform([1, 3, 5, 7], low: -1, high: 1, generator: RandomGenerator(seed: 3))
        let output = upscaler(low)
        XCTAssertEqual(output.shape, [1, 3, 20, 28])
        XCTAssertEqual(maximumDifference(withoutGradient { output }, low.resampled(height: 20, width: 28, filter: .bicubic)), 0)
        output.pow(2).mean().backward()
        let tail = upscaler.namedParameters().first { $0.name == "tail.weight" }!.tensor
        XCTAssertGreaterThan(withoutGradient { tail.grad!.abs().max().item }, 0)
    }

    /// Bins, soft encoding (5 nearest bins, Gaussian weights summing to 1, the home bin heaviest) and the annealed mean
    /// (T = 1: the mean of the distribution; small T: towards its mode; a one-hot distribution: its centre).
    func testChromaBinsEncodingAndAnnealedMean() {
        let bins = ChromaBins()
        XCTAssertEqual(bins.count, 484)
        XCTAssertEqual(bins.bin(a: 0.1, b: -0.1), 11 * 22 + 10)
        XCTAssertEqual(bins.center(bins.bin(a: 37, b: -52)).a, 35)
        XCTAssertEqual(bins.center(bins.bin(a: 37, b: -52)).b, -55)
        let chroma = Tensor(shape: [1, 2, 1, 1], scalars: [37 / 110, -52 / 110])
        let (targets, hard) = bins.softEncoded(chroma)
        XCTAssertEqual(hard, [bins.bin(a: 37, b: -52)])
        let weights = (0..<bins.count).map { targets.pointer[$0] }
        XCTAssertEqual(weights.reduce(0, +), 1, accuracy: 1e-5)
        XCTAssertEqual(weights.filter { $0 > 0 }.count, 5)
        XCTAssertEqual(weights.firstIndex(of: weights.max()!), hard[0])

        let probabilities = Tensor.zeros([1, bins.count, 1, 1])
        let (first, second) = (bins.bin(a: 15, b: 15), bins.bin(a: -45, b: 25))
        probabilities.pointer[first] = 0.75
        probabilities.pointer[second] = 0.25
        let mean = bins.annealedMean(probabilities, temperature: 1)
        XCTAssertEqual(mean.pointer[0] * 110, 0.75 * 15 + 0.25 * -45, accuracy: 1e-3)
        XCTAssertEqual(mean.pointer[1] * 110, 0.75 * 15 + 0.25 * 25, accuracy: 1e-3)
        let sharp = bins.annealedMean(probabilities, temperature: 0.1)
        XCTAssertEqual(sharp.pointer[0] * 110, 15, accuracy: 0.01, "T → 0 goes to the mode")
        // Zhang's T = 0.38: p^(1/T) puts 0.75^2.63 : 0.25^2.63 = 0.946 : 0.054 on the two.
        let annealed = bins.annealedMean(probabilities, temperature: 0.38)
        let share = pow(0.75, 1 / 0.38) / (pow(0.75, 1 / 0.38) + pow(0.25, 1 / 0.38))
        XCTAssertEqual(Double(annealed.pointer[0] * 110), share * 15 + (1 - share) * -45, accuracy: 1e-2)
    }

    func testChromaClassifierShapes() {
        var configuration = ChromaClassifierConfiguration()
        configuration.channels = [8, 8, 8]
        configuration.blocks = 1
        let classifier = ChromaClassifier(configuration, generator: RandomGenerator(seed: 4))
        let lightness = Tensor.randomUniform([2, 1, 32, 48], low: -1, high: 1, generator: RandomGenerator(seed: 5))
        XCTAssertEqual(classifier(lightness).shape, [2, 484, 8, 12])
        let chroma = classifier.chroma(for: lightness)
        XCTAssertEqual(chroma.shape, [2, 2, 32, 48])
        XCTAssertLessThanOrEqual(withoutGradient { chroma.abs().max().item }, 1.01)
    }

    /// The compact autoencoder runs at 1/f, its configuration round-trips through JSON, and files from before the
    /// style existed still read as latent diffusion's design.
    func testCompactAutoencoderAndConfigurationCompatibility() throws {
        var configuration = TinyModels.autoencoder
        configuration.style = .pixelShuffle
        configuration.multipliers = [1, 2, 4]
        let autoencoder = AutoencoderKL(configuration, generator: RandomGenerator(seed: 6))
        let image = Tensor.randomUniform([1, 3, 16, 24], low: -1, high: 1, generator: RandomGenerator(seed: 7))
        XCTAssertEqual(autoencoder.encode(image).mean.shape, [1, 2, 4, 6])
        XCTAssertEqual(autoencoder(image).shape, [1, 3, 16, 24])
        let data = try JSONEncoder().encode(configuration)
        XCTAssertEqual(try JSONDecoder().decode(AutoencoderConfiguration.self, from: data), configuration)
        let legacy = #"{"channels":32,"multipliers":[1,2,2],"blocksPerLevel":1,"attentionResolutions":[],"resolution":256,"imageChannels":3,"latentChannels":4}"#
        XCTAssertEqual(try JSONDecoder().decode(AutoencoderConfiguration.self, from: Data(legacy.utf8)).style, .latentDiffusion)
    }

    /// A two-stage model saves and loads (both estimators, with and without the flow) and gives the same outputs.
    func testRestorationModelRoundTrip() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        var vae = TinyModels.autoencoder
        vae.style = .pixelShuffle
        var flowConfiguration = LatentFlowConfiguration()
        flowConfiguration.unet = TinyModels.unet
        let flow = LatentFlow(configuration: flowConfiguration, autoencoder: AutoencoderKL(vae, generator: RandomGenerator(seed: 8)),
                              scaleFactor: 0.7, generator: RandomGenerator(seed: 9))
        let upscaler = ResidualUpscaler(ResidualUpscalerConfiguration(factor: 4, channels: 4, blocks: 1), generator: RandomGenerator(seed: 10))
        for model in [RestorationModel(estimator: .upscaler(upscaler), flow: flow), RestorationModel(estimator: .upscaler(upscaler))] {
            let url = root.appendingPathComponent("m.safetensors")
            try model.save(to: url, metadata: model.metadata)
            let loaded = try RestorationModel.load(contentsOf: url)
            XCTAssertEqual(loaded.task, .superResolution)
            XCTAssertEqual(loaded.flow == nil, model.flow == nil)
            XCTAssertEqual(loaded.flow?.scaleFactor, model.flow?.scaleFactor)
            let x = seededNormal([1, 4, 4, 6], seed: 11)
            if let flow = model.flow, let other = loaded.flow {
                let condition = seededNormal([1, 2, 4, 6], seed: 12)
                XCTAssertEqual(maximumDifference(withoutGradient { flow.velocity(x.sliced(axis: 1, 0..<2), times: [0.3], condition: condition) },
                                                 withoutGradient { other.velocity(x.sliced(axis: 1, 0..<2), times: [0.3], condition: condition) }), 0)
            }
        }
        XCTAssertThrowsError(try RestorationModel.load(contentsOf: fixturesDirectory.appendingPathComponent("ddim.safetensors")))
    }
}
