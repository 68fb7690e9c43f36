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

    /// Virtual batch norm: each example is normalised with (n·μ_ref + mᵢ)/(n + 1) (and the same for the mean square),
    /// so its output does not depend on the rest of its batch; gradients (through the reference statistics too)
    /// match finite differences; outside a step the stored statistics are used.
    func testVirtualBatchNormalization() {
        let layer = VirtualBatchNorm2d(channels: 2)
        layer.weight.assign(Tensor(shape: [2], scalars: [1.5, 0.5]))
        layer.bias.assign(Tensor(shape: [2], scalars: [0.1, -0.2]))
        let network = Sequential([layer])
        let reference = seededNormal([3, 2, 2, 2], seed: 20), x = seededNormal([2, 2, 2, 2], seed: 21, scale: 2)
        VirtualBatchNorm2d.collectReference(network, reference)
        let output = network(x)
        // By hand for example 0, channel 1.
        let r = reference.scalars, v = x.scalars
        let referenceValues = (0..<3).flatMap { n in (0..<4).map { r[n * 8 + 4 + $0] } }
        let own = (0..<4).map { v[4 + $0] }
        func average(_ values: [Float]) -> Float { values.reduce(0, +) / Float(values.count) }
        let referenceMean: Float = average(referenceValues), ownMean: Float = average(own)
        let referenceSquare: Float = average(referenceValues.map { $0 * $0 }), ownSquare: Float = average(own.map { $0 * $0 })
        let mean: Float = (3 * referenceMean + ownMean) / 4
        let square: Float = (3 * referenceSquare + ownSquare) / 4
        let expected = own.map { ($0 - mean) / (square - mean * mean + 1e-5).squareRoot() * 0.5 - 0.2 }
        for index in 0..<4 { XCTAssertEqual(output.scalars[4 + index], expected[index], accuracy: 1e-5) }
        // Alone, example 0 gives the same output.
        let alone = network(x.sliced(axis: 0, 0..<1))
        XCTAssertLessThan(maximumDifference(alone, output.sliced(axis: 0, 0..<1)), 1e-6)
        VirtualBatchNorm2d.endStep(network)
        XCTAssertLessThan(maximumDifference(withoutGradient { network(x) }, output), 1e-5, "the stored statistics")
        checkGradients([x, reference, layer.weight], "virtual batch norm") { inputs in
            VirtualBatchNorm2d.collectReference(network, inputs[1])
            defer { VirtualBatchNorm2d.endStep(network) }
            return network(inputs[0])
        }
    }
}
