import _TestSupport
import Foundation
import Models
import NN
import Tensor
import XCTest

final class DenoisingUNetTests: XCTestCase {
    func unet() -> DenoisingUNet {
        var configuration = TinyModels.unet
        configuration.inputChannels = 5
        configuration.outputChannels = 2
        configuration.conditionsOnNoiseLevel = true
        return DenoisingUNet(configuration, generator: RandomGenerator(seed: 1))
    }

    let input = Tensor.randomNormal([2, 5, 8, 12], generator: RandomGenerator(seed: 2))

    /// The output keeps the grid and is exactly zero at the start (zero-initialised last convolution).
    func testKeepsTheGridAndStartsAtZero() {
        let output = unet().forward(input, timesteps: [3, 700], noiseLevels: [0, 50])
        XCTAssertEqual(output.shape, [2, 2, 8, 12])
        XCTAssertEqual(withoutGradient { output.abs().max().item }, 0)
    }

    /// Once the output layer is non-zero, gradients reach the first convolution (through the skips), and the keys of
    /// the noise-level embedding and the up path's shortcut exist.
    func testGradientsReachTheFirstLayer() {
        let network = unet()
        let parameters = Dictionary(uniqueKeysWithValues: network.namedParameters().map { ($0.name, $0.tensor) })
        parameters["conv_out.weight"]!.pointer.update(repeating: 0.01, count: parameters["conv_out.weight"]!.count)
        network.forward(input, timesteps: [3, 700], noiseLevels: [0, 50]).pow(2).mean().backward()
        XCTAssertGreaterThan(withoutGradient { parameters["conv_in.weight"]!.grad!.abs().max().item }, 0)
        XCTAssertNotNil(parameters["noise_level_embed.2.weight"])
        XCTAssertNotNil(parameters["up.0.block.1.nin_shortcut.weight"])
    }

    /// The timestep embedding: cos then sin of t·10000^(−i/(d/2)).
    func testSinusoidalEmbedding() {
        let embedding = sinusoidalEmbedding([2], dimension: 4)
        XCTAssertEqual(embedding.pointer[0], cos(2), accuracy: 1e-6)
        XCTAssertEqual(embedding.pointer[1], cos(2 / 100), accuracy: 1e-6)
        XCTAssertEqual(embedding.pointer[3], sin(2 / 100), accuracy: 1e-6)
    }
}
