import _TestSupport
import Tensor
import XCTest

/// Gradients of gradients (`createGraph`), as a gradient penalty needs them: for every op a discriminator uses, the
/// gradient of ‖∇ₓ Σ f(x)·r‖² with respect to x and to the op's parameters matches finite differences.
final class SecondOrderTests: XCTestCase {
    func testGradientsMatchFirstOrderBackward() {
        let x = seededNormal([2, 3], seed: 1), w = seededNormal([4, 3], seed: 2)
        x.requiresGrad = true
        let output = Tensor.linear(x, weight: w).tanh().sum()
        let viaGradients = output.gradients(withRespectTo: [x])[0]
        output.backward()
        XCTAssertEqual(maximumDifference(viaGradients, x.grad!), 0)
    }

    func testConvolution() {
        let x = seededNormal([2, 2, 6, 6], seed: 3)
        let first = seededNormal([3, 2, 4, 4], seed: 4, scale: 0.5), bias = seededNormal([3], seed: 5)
        let second = seededNormal([2, 3, 3, 3], seed: 6, scale: 0.5)
        checkSecondOrder([x, first, bias, second], "conv (stride 2, padding 1) → tanh → conv") { inputs in
            squaredGradientNorm(inputs[0]) {
                Tensor.conv2d(Tensor.conv2d($0, weight: inputs[1], bias: inputs[2], stride: 2, padding: 1).tanh(),
                              weight: inputs[3], padding: 1)
            }
        }
    }

    /// Leaky ReLU's derivative is piecewise constant: with every pre-activation at least 0.5 from the kink (which a
    /// finite difference must not cross), the penalty's gradients match.
    func testLeakyReLU() {
        let x = Tensor(shape: [2, 2], scalars: [1, 2, -1, 0.5])
        let w = Tensor(shape: [3, 2], scalars: [1, 1, -1, 0.8, 0.5, -2]), v = seededNormal([2, 3], seed: 17)
        checkSecondOrder([x, w, v], "linear → leaky ReLU → linear") { inputs in
            squaredGradientNorm(inputs[0]) { Tensor.linear(Tensor.linear($0, weight: inputs[1]).leakyReLU(negativeSlope: 0.2), weight: inputs[2]) }
        }
    }

    func testLinearAndSmoothActivations() {
        let x = seededNormal([3, 4], seed: 7), w = seededNormal([5, 4], seed: 8, scale: 0.5), b = seededNormal([5], seed: 9)
        checkSecondOrder([x, w, b], "linear → tanh, sigmoid, square, mean") { inputs in
            squaredGradientNorm(inputs[0]) { x in
                let hidden = Tensor.linear(x, weight: inputs[1], bias: inputs[2])
                return hidden.tanh() + hidden.sigmoid() * 2 + hidden.pow(2).mean(axes: [1], keepingDimensions: true)
            }
        }
    }

    func testNormalizations() {
        let x = seededNormal([2, 3, 3, 3], seed: 10, scale: 2)
        let weight = seededNormal([3], seed: 11), bias = seededNormal([3], seed: 12)
        let conv = seededNormal([3, 3, 1, 1], seed: 13)
        checkSecondOrder([x, weight, conv], "instance norm (affine) after a convolution") { inputs in
            squaredGradientNorm(inputs[0]) { Tensor.conv2d($0, weight: inputs[2]).instanceNormalized(weight: inputs[1], bias: bias).leakyReLU(negativeSlope: 0.2) }
        }
        let running = (Tensor.zeros([3]), Tensor.ones([3]))
        checkSecondOrder([x, weight, conv], "batch norm (training) after a convolution") { inputs in
            squaredGradientNorm(inputs[0]) {
                Tensor.conv2d($0, weight: inputs[2]).batchNormalized(runningMean: running.0, runningVariance: running.1, weight: inputs[1],
                                                                     bias: bias, training: true).tanh()
            }
        }
    }

    func testInterpolationSumsAndShapes() {
        let x = seededNormal([1, 2, 3, 3], seed: 14)
        let conv = seededNormal([2, 2, 3, 3], seed: 15, scale: 0.5)
        checkSecondOrder([x, conv], "bilinear and nearest upsampling, slices, concatenation, reshape") { inputs in
            squaredGradientNorm(inputs[0]) { x in
                let bilinear = Tensor.conv2d(x.upsampled(height: 6, width: 6, mode: .bilinear), weight: inputs[1], padding: 1).tanh()
                let nearest = Tensor.conv2d(x.upsampled(scale: 2, mode: .nearest), weight: inputs[1], padding: 1).sigmoid()
                let joined = Tensor.concatenated([bilinear.sliced(axis: 1, 0..<1), nearest], axis: 1)
                return joined.reshaped([1, -1]).sum(axes: [0]).pow(2)
            }
        }
    }

    /// An op without a second-order backward says so instead of giving a wrong gradient.
    func testOpsWithoutSecondOrderAreNamed() {
        // (softmax has none: precondition failures cannot be caught in XCTest, so this checks the node's flag only.)
        let x = seededNormal([2, 3], seed: 16)
        x.requiresGrad = true
        XCTAssertTrue(Tensor.hasSecondOrderGradient(x.tanh()))
        XCTAssertFalse(Tensor.hasSecondOrderGradient(x.softmax()))
    }
}
