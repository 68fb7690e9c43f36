import _TestSupport
import Tensor
import XCTest

/// Finite-difference gradient checks: one test per op family, covering every differentiable op.
final class GradientCheckTests: XCTestCase {
    /// Values kept at least 0.1 away from 0, so kinks (relu, abs, clamp at 0) are never straddled.
    func awayFromZero(_ shape: [Int], seed: UInt64) -> Tensor {
        let tensor = seededNormal(shape, seed: seed)
        for index in 0..<tensor.count {
            let value = tensor.pointer[index]
            tensor.pointer[index] = value >= 0 ? value + 0.1 : value - 0.1
        }
        return tensor
    }

    func testArithmeticWithBroadcasting() {
        let a = seededNormal([2, 3, 4], seed: 1), b = seededNormal([3, 1], seed: 2)
        checkGradients([a, b], "add") { $0[0] + $0[1] }
        checkGradients([a, b], "subtract") { $0[0] - $0[1] }
        checkGradients([a, b], "multiply") { $0[0] * $0[1] }
        let positive = seededNormal([1, 4], seed: 3).abs() + 0.5
        checkGradients([a, positive], "divide") { $0[0] / $0[1] }
        checkGradients([a], "affine") { 3 * $0[0] - 2 }
        checkGradients([b], "expand") { $0[0].expanded(to: [2, 3, 5]) }
    }

    func testUnaryFunctions() {
        let x = awayFromZero([3, 5], seed: 4)
        let positive = x.abs() + 0.2
        checkGradients([x], "exp") { $0[0].exp() }
        checkGradients([positive], "log") { $0[0].log() }
        checkGradients([positive], "sqrt") { $0[0].sqrt() }
        checkGradients([x], "abs") { $0[0].abs() }
        checkGradients([positive], "pow 1.5") { $0[0].pow(1.5) }
        checkGradients([x], "square") { $0[0].pow(2) }
        checkGradients([x], "clamp") { $0[0].clamped(min: -0.05, max: 0.05) }
    }

    func testActivations() {
        let x = awayFromZero([4, 6], seed: 5)
        checkGradients([x], "relu") { $0[0].relu() }
        checkGradients([x], "leaky relu") { $0[0].leakyReLU(negativeSlope: 0.2) }
        checkGradients([x], "tanh") { $0[0].tanh() }
        checkGradients([x], "sigmoid") { $0[0].sigmoid() }
        checkGradients([x], "silu") { $0[0].silu() }
        checkGradients([x], "gelu") { $0[0].gelu() }
        checkGradients([x], "softmax last") { $0[0].softmax(axis: -1) }
        checkGradients([x], "softmax first") { $0[0].softmax(axis: 0) }
    }

    func testDropoutWithFixedMask() {
        let x = seededNormal([4, 5], seed: 6)
        checkGradients([x], "dropout") { $0[0].dropout(probability: 0.3, training: true, generator: RandomGenerator(seed: 7)) }
    }

    func testMatmulAndLinear() {
        let a = seededNormal([2, 3, 4], seed: 8), b = seededNormal([2, 4, 5], seed: 9)
        checkGradients([a, b], "batched matmul") { $0[0].matmul($0[1]) }
        let c = seededNormal([2, 5, 4], seed: 10)
        checkGradients([a, c], "matmul transposed other") { $0[0].matmul($0[1], transposeOther: true) }
        let d = seededNormal([2, 3, 5], seed: 11)
        checkGradients([a, d], "matmul transposed self") { $0[0].matmul($0[1], transposeSelf: true) }
        let shared = seededNormal([4, 2], seed: 12)
        checkGradients([a, shared], "matmul broadcast matrix") { $0[0].matmul($0[1]) }
        let weight = seededNormal([6, 4], seed: 13), bias = seededNormal([6], seed: 14)
        checkGradients([a, weight, bias], "linear") { Tensor.linear($0[0], weight: $0[1], bias: $0[2]) }
    }

    func testConvolutionBothStrategies() {
        // Shifted GEMM path: stride 1, ≥ 16 input channels per group.
        let x = seededNormal([1, 16, 5, 4], seed: 15)
        let w = seededNormal([3, 16, 3, 3], seed: 16, scale: 0.2), b = seededNormal([3], seed: 17)
        checkGradients([x, w, b], "conv2d shifted") { Tensor.conv2d($0[0], weight: $0[1], bias: $0[2], padding: 1) }
        // im2col path: stride 2, groups, dilation.
        let y = seededNormal([2, 4, 6, 5], seed: 18)
        let v = seededNormal([4, 2, 3, 3], seed: 19, scale: 0.3), c = seededNormal([4], seed: 20)
        checkGradients([y, v, c], "conv2d im2col") {
            Tensor.conv2d($0[0], weight: $0[1], bias: $0[2], stride: 2, padding: 2, dilation: 2, groups: 2)
        }
    }

    /// Depthwise convolutions (one channel per group: the blur-pool filters) run direct loops: they match per-channel
    /// convolutions, and their gradients (also of the transposed form) match finite differences.
    func testDepthwiseConvolution() {
        let x = seededNormal([2, 3, 7, 6], seed: 40), weight = seededNormal([3, 1, 3, 3], seed: 41)
        for (stride, padding, dilation) in [(2, 1, 1), (1, 2, 2)] {
            let depthwise = Tensor.conv2d(x, weight: weight, stride: stride, padding: padding, dilation: dilation, groups: 3)
            let perChannel = Tensor.concatenated((0..<3).map { channel in
                Tensor.conv2d(x.sliced(axis: 1, channel..<(channel + 1)), weight: weight.sliced(axis: 0, channel..<(channel + 1)),
                              stride: stride, padding: padding, dilation: dilation)
            }, axis: 1)
            XCTAssertLessThan(maximumDifference(depthwise, perChannel), 1e-5)
            checkGradients([x, weight], "depthwise conv stride \(stride)") {
                Tensor.conv2d($0[0], weight: $0[1], stride: stride, padding: padding, dilation: dilation, groups: 3)
            }
        }
        checkGradients([seededNormal([1, 3, 4, 5], seed: 42), seededNormal([3, 1, 4, 4], seed: 43)], "depthwise transposed conv") {
            Tensor.convTranspose2d($0[0], weight: $0[1], stride: 2, padding: 2, groups: 3)
        }
    }

    func testTransposedConvolution() {
        let x = seededNormal([2, 3, 3, 4], seed: 21)
        let w = seededNormal([3, 2, 3, 3], seed: 22, scale: 0.3), b = seededNormal([2], seed: 23)
        checkGradients([x, w, b], "conv_transpose2d") {
            Tensor.convTranspose2d($0[0], weight: $0[1], bias: $0[2], stride: 2, padding: 1, outputPadding: 1)
        }
    }

    func testPaddingResamplingPooling() {
        let x = seededNormal([1, 2, 4, 5], seed: 24)
        for mode in PaddingMode.allCases {
            checkGradients([x], "pad \(mode)") { $0[0].padded(left: 2, right: 1, top: 3, bottom: 1, mode: mode) }
        }
        for mode in UpsamplingMode.allCases {
            checkGradients([x], "upsample \(mode)") { $0[0].upsampled(height: 7, width: 9, mode: mode) }
        }
        checkGradients([x], "avg pool") { $0[0].averagePooled(kernel: 3, stride: 2, padding: 1) }
    }

    func testNormalizations() {
        let x = seededNormal([2, 4, 3, 3], seed: 25, scale: 2)
        let weight = seededNormal([4], seed: 26), bias = seededNormal([4], seed: 27)
        checkGradients([x], "instance norm") { $0[0].instanceNormalized() }
        checkGradients([x, weight, bias], "instance norm affine") { $0[0].instanceNormalized(weight: $0[1], bias: $0[2]) }
        checkGradients([x, weight, bias], "group norm") { $0[0].groupNormalized(groups: 2, weight: $0[1], bias: $0[2]) }
        let running = (Tensor.zeros([4]), Tensor.ones([4]))
        checkGradients([x, weight, bias], "batch norm train") {
            $0[0].batchNormalized(runningMean: running.0, runningVariance: running.1, weight: $0[1], bias: $0[2], training: true)
        }
        checkGradients([x, weight, bias], "batch norm eval") {
            $0[0].batchNormalized(runningMean: running.0, runningVariance: running.1, weight: $0[1], bias: $0[2], training: false)
        }
        let layerWeight = seededNormal([3, 3], seed: 28), layerBias = seededNormal([3, 3], seed: 29)
        checkGradients([x, layerWeight, layerBias], "layer norm") {
            $0[0].layerNormalized(normalizedShape: [3, 3], weight: $0[1], bias: $0[2])
        }
    }

    func testShapeOps() {
        let x = seededNormal([2, 3, 4], seed: 30), y = seededNormal([2, 2, 4], seed: 31)
        checkGradients([x], "reshape") { $0[0].reshaped([4, -1]) * $0[0].reshaped([4, 6]) }
        checkGradients([x], "permute") { $0[0].permuted([2, 0, 1]) }
        checkGradients([x, y], "concatenate") { Tensor.concatenated([$0[0], $0[1]], axis: 1) }
        checkGradients([x], "slice inner") { $0[0].sliced(axis: 2, 1..<3) }
        checkGradients([x], "slice outer") { $0[0].sliced(axis: 0, 1..<2) }
        checkGradients([x], "split") { parts in
            let pieces = parts[0].split(sizes: [1, 2], axis: 1)
            return pieces[0] * pieces[1].sum(axes: [1], keepingDimensions: true)
        }
    }

    func testReductions() {
        let x = awayFromZero([3, 4, 2], seed: 32)
        checkGradients([x], "sum axes") { $0[0].sum(axes: [0, 2]) }
        checkGradients([x], "sum all") { $0[0].sum() }
        checkGradients([x], "mean keep") { $0[0].mean(axes: [1], keepingDimensions: true) }
        checkGradients([x], "variance") { $0[0].variance(axes: [1]) }
        checkGradients([x], "max") { $0[0].max(axis: 1) }
    }

    func testAttentionAndLosses() {
        let q = seededNormal([2, 3, 4], seed: 33), k = seededNormal([2, 5, 4], seed: 34), v = seededNormal([2, 5, 3], seed: 35)
        checkGradients([q, k, v], "attention") { Tensor.scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2]) }
        let prediction = awayFromZero([3, 4], seed: 36), target = Tensor.zeros([3, 4])
        checkGradients([prediction], "l1") { Tensor.l1Loss($0[0], target) }
        checkGradients([prediction], "mse") { Tensor.mseLoss($0[0], target) }
        let labels = Tensor.randomUniform([3, 4], generator: RandomGenerator(seed: 37))
        checkGradients([prediction], "bce with logits") { Tensor.binaryCrossEntropyWithLogits($0[0], labels) }
    }

    /// The weighted soft-target cross-entropy of the colorization estimator: its gradient, and its value against
    /// logsumexp − Σ t·x computed by hand.
    func testSoftCrossEntropy() {
        let logits = seededNormal([2, 5, 2, 3], seed: 40)
        let raw = Tensor.randomUniform([2, 5, 2, 3], low: 0.1, high: 1, generator: RandomGenerator(seed: 41))
        let sums = raw.sum(axes: [1], keepingDimensions: true)
        let targets = raw / sums
        let weights = Tensor.randomUniform([2, 1, 2, 3], low: 0.5, high: 2, generator: RandomGenerator(seed: 42))
        checkGradients([logits], "soft cross-entropy") { Tensor.softCrossEntropy($0[0], targets: targets, weights: weights) }
        var expected = 0.0
        for sample in 0..<2 {
            for position in 0..<6 {
                let values = (0..<5).map { Double(logits.pointer[(sample * 5 + $0) * 6 + position]) }
                let lse = log(values.map { exp($0) }.reduce(0, +))
                let dot = (0..<5).reduce(0.0) { $0 + Double(targets.pointer[(sample * 5 + $1) * 6 + position]) * values[$1] }
                expected += Double(weights.pointer[sample * 6 + position]) * (lse - dot)
            }
        }
        XCTAssertEqual(Double(withoutGradient { Tensor.softCrossEntropy(logits, targets: targets, weights: weights).item }), expected / 12,
                       accuracy: 1e-5)
    }
}
