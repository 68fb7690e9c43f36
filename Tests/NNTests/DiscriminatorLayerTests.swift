import _TestSupport
import NN
import Tensor
import XCTest

/// The discriminators' stabilising layers against hand-computed values and finite differences.
final class DiscriminatorLayerTests: XCTestCase {
    /// Power iteration finds σ = 3 of diag(3, 1): the normalised weight becomes diag(1, 1/3); u and v are buffers;
    /// the gradient through σ = uᵀWv (u, v fixed in evaluation mode) matches finite differences.
    func testSpectralNormalization() {
        let convolution = Conv2d(inputChannels: 2, outputChannels: 2, kernelSize: 1, bias: false)
        convolution.weight.assign(Tensor(shape: [2, 2, 1, 1], scalars: [3, 0, 0, 1]))
        convolution.normalizeSpectrally(generator: RandomGenerator(seed: 3))
        XCTAssertEqual(convolution.stateDictionary().map(\.name).sorted(), ["weight", "weight_u", "weight_v"])
        let input = Tensor(shape: [1, 2, 1, 1], scalars: [1, 1])
        var output = input
        for _ in 0..<30 { output = withoutGradient { convolution(input) } }
        XCTAssertEqual(output.scalars[0], 1, accuracy: 1e-4)
        XCTAssertEqual(output.scalars[1], 1.0 / 3, accuracy: 1e-4)

        let general = Conv2d(inputChannels: 2, outputChannels: 3, kernelSize: 3, padding: 1, generator: RandomGenerator(seed: 4))
        general.normalizeSpectrally(generator: RandomGenerator(seed: 5))
        for _ in 0..<5 { _ = withoutGradient { general(input) } }
        general.eval()
        let x = seededNormal([2, 2, 4, 4], seed: 6)
        checkGradients([x, general.weight], "spectrally normalised convolution") { general($0[0]) }
    }

    /// The appended channel is the mean over positions of the batch standard deviation (biased, √(σ² + 1e-8)).
    func testMinibatchStandardDeviation() {
        let layer = MinibatchStandardDeviation()
        // Two images of one channel, two positions: (0, 2) and (2, 2): σ 1 and 0 → mean (1 + 1e-4) / 2.
        let output = layer(Tensor(shape: [2, 1, 1, 2], scalars: [0, 2, 2, 2]))
        XCTAssertEqual(output.shape, [2, 2, 1, 2])
        XCTAssertEqual(output.scalars[0...1], [0, 2])
        for index in [2, 3, 6, 7] { XCTAssertEqual(output.scalars[index], (1 + 1e-4) / 2, accuracy: 1e-6) }
        XCTAssertEqual(layer(Tensor(shape: [1, 1, 1, 2], scalars: [5, 6])).scalars, [5, 6, 0, 0])
        checkGradients([seededNormal([3, 2, 2, 2], seed: 7)], "minibatch standard deviation") { layer($0[0]) }
    }
}
