import _TestSupport
import Foundation
import Models
import NN
import Tensor
import XCTest

/// latent-diffusion's KL autoencoder against PyTorch (`tools/make_diffusion_fixtures.py`).
final class AutoencoderTests: XCTestCase {
    func fixture() throws -> (archive: SafetensorsArchive, model: AutoencoderKL) {
        let archive = try Safetensors.read(contentsOf: fixturesDirectory.appendingPathComponent("diffusion.safetensors"))
        let options = try JSONSerialization.jsonObject(with: Data(archive.metadata["config"]!.utf8)) as! [String: Any]
        var configuration = AutoencoderConfiguration()
        configuration.channels = options["channels"] as! Int
        configuration.multipliers = options["multipliers"] as! [Int]
        configuration.blocksPerLevel = options["blocks_per_level"] as! Int
        configuration.attentionResolutions = options["attention_resolutions"] as! [Int]
        configuration.resolution = options["resolution"] as! Int
        configuration.imageChannels = options["image_channels"] as! Int
        configuration.latentChannels = options["latent_channels"] as! Int
        let model = AutoencoderKL(configuration)
        var weights: [String: Tensor] = [:]
        for (name, tensor) in archive.tensors where name.hasPrefix("vae.") { weights[String(name.dropFirst(4))] = tensor.copied() }
        // Strict: every key of the reference's state_dict, and only those.
        try model.load(stateDictionary: weights)
        return (archive, model)
    }

    func assertClose(_ actual: Tensor, _ expected: Tensor, tolerance: Float, _ label: String) {
        XCTAssertEqual(actual.shape, expected.shape, label)
        let difference = withoutGradient { (actual - expected).abs().max().item }
        let scale = withoutGradient { expected.abs().max().item }
        XCTAssertLessThan(difference, tolerance * max(scale, 1), "\(label): max difference \(difference)")
    }

    /// Moments, KL, the reconstruction through the posterior mean and the input gradient of an L1 loss match
    /// PyTorch for a two-level model with attention at 8×8 and a channel-changing shortcut.
    func testMatchesPyTorch() throws {
        let (archive, model) = try fixture()
        let input = try archive.tensor("input").copied()
        input.requiresGrad = true
        let moments = model.moments(input)
        assertClose(moments, try archive.tensor("moments"), tolerance: 1e-4, "moments")
        let posterior = DiagonalGaussian(moments: moments)
        assertClose(posterior.klDivergence(), try archive.tensor("kl"), tolerance: 1e-4, "kl")
        let reconstruction = model.decode(posterior.mean)
        assertClose(reconstruction, try archive.tensor("reconstruction"), tolerance: 1e-4, "reconstruction")
        (reconstruction - input).abs().mean().backward()
        assertClose(input.grad!, try archive.tensor("input_gradient"), tolerance: 1e-3, "input gradient")
        XCTAssertEqual(model.configuration.downsamplingFactor, 2)
    }

    /// A sample is the mean plus exp(½·logvar)·ε, with a clamped log-variance.
    func testPosteriorSampling() {
        let moments = Tensor(shape: [1, 2, 1, 2], scalars: [1, -2, 2 * 0.6931472, 50])
        let posterior = DiagonalGaussian(moments: moments)
        XCTAssertEqual(posterior.logVariance.pointer[1], 20, "clamped to 20")
        let noise = Tensor.randomNormal([1, 1, 1, 2], generator: RandomGenerator(seed: 7))
        let sample = posterior.sample(generator: RandomGenerator(seed: 7))
        XCTAssertEqual(sample.pointer[0], 1 + 2 * noise.pointer[0], accuracy: 1e-5)
    }
}
