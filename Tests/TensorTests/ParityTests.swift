import _TestSupport
import Tensor
import XCTest

/// Forward and backward against PyTorch on the committed fixtures (tools/make_parity_fixtures.py).
final class ParityTests: XCTestCase {
    typealias Forward = ([String: Tensor]) -> Tensor

    /// Runs `forward` on the case's stored inputs and compares the output and every stored input gradient.
    func check(_ name: String, inputs: [String], absolute: Float = 1e-4, relative: Float = 1e-4,
               file: StaticString = #filePath, line: UInt = #line, _ forward: Forward) throws {
        var tensors: [String: Tensor] = [:]
        for input in inputs {
            let tensor = try ParityFixtures.tensor(name, input)
            tensor.requiresGrad = true
            tensors[input] = tensor
        }
        let output = forward(tensors)
        assertClose(output, try ParityFixtures.tensor(name, "output"), absolute: absolute, relative: relative,
                    "\(name) output", file: file, line: line)
        output.backward(try ParityFixtures.tensor(name, "grad_output"))
        for input in inputs {
            guard let expected = try? ParityFixtures.tensor(name, "grad_\(input)") else { continue }
            assertClose(tensors[input]!.grad, expected, absolute: absolute, relative: relative,
                        "\(name) gradient of \(input)", file: file, line: line)
        }
    }

    func testConvolution() throws {
        for name in ["conv_shifted", "conv_shifted_dilated_groups", "conv_shifted_7x7", "conv_pointwise",
                     "conv_im2col_stride2", "conv_im2col_groups_dilated", "conv_winograd", "conv_winograd_unpadded"] {
            let stride = try ParityFixtures.option(name, "stride"), padding = try ParityFixtures.option(name, "padding")
            let dilation = try ParityFixtures.option(name, "dilation"), groups = try ParityFixtures.option(name, "groups")
            try check(name, inputs: ["x", "w", "b"]) {
                Tensor.conv2d($0["x"]!, weight: $0["w"]!, bias: $0["b"]!, stride: stride, padding: padding,
                              dilation: dilation, groups: groups)
            }
        }
    }

    func testTransposedConvolution() throws {
        for name in ["conv_transpose_stride2", "conv_transpose_stride1_groups", "conv_transpose_stride3_dilated"] {
            let stride = try ParityFixtures.option(name, "stride"), padding = try ParityFixtures.option(name, "padding")
            let outputPadding = try ParityFixtures.option(name, "output_padding")
            let dilation = try ParityFixtures.option(name, "dilation"), groups = try ParityFixtures.option(name, "groups")
            try check(name, inputs: ["x", "w", "b"]) {
                Tensor.convTranspose2d($0["x"]!, weight: $0["w"]!, bias: $0["b"]!, stride: stride, padding: padding,
                                       outputPadding: outputPadding, dilation: dilation, groups: groups)
            }
        }
    }

    func testNormalizations() throws {
        try check("instance_norm", inputs: ["x"]) { $0["x"]!.instanceNormalized() }
        try check("instance_norm_affine", inputs: ["x", "w", "b"]) { $0["x"]!.instanceNormalized(weight: $0["w"], bias: $0["b"]) }
        try check("group_norm", inputs: ["x", "w", "b"]) { $0["x"]!.groupNormalized(groups: 2, weight: $0["w"], bias: $0["b"]) }
        try check("layer_norm", inputs: ["x", "w", "b"]) {
            $0["x"]!.layerNormalized(normalizedShape: [4, 5], weight: $0["w"], bias: $0["b"])
        }
        let runningMean = try ParityFixtures.tensor("batch_norm_train", "running_mean_before")
        let runningVariance = try ParityFixtures.tensor("batch_norm_train", "running_var_before")
        try check("batch_norm_train", inputs: ["x", "w", "b"]) {
            $0["x"]!.batchNormalized(runningMean: runningMean, runningVariance: runningVariance, weight: $0["w"],
                                     bias: $0["b"], training: true, momentum: 0.1)
        }
        assertClose(runningMean, try ParityFixtures.tensor("batch_norm_train", "running_mean_after"), "running mean")
        assertClose(runningVariance, try ParityFixtures.tensor("batch_norm_train", "running_var_after"), "running variance")
        let evalMean = try ParityFixtures.tensor("batch_norm_eval", "running_mean")
        let evalVariance = try ParityFixtures.tensor("batch_norm_eval", "running_var")
        try check("batch_norm_eval", inputs: ["x", "w", "b"]) {
            $0["x"]!.batchNormalized(runningMean: evalMean, runningVariance: evalVariance, weight: $0["w"],
                                     bias: $0["b"], training: false)
        }
    }

    func testResamplingAndPadding() throws {
        let cases: [(String, UpsamplingMode)] = [
            ("upsample_nearest", .nearest), ("upsample_nearest_x2", .nearest), ("upsample_bilinear", .bilinear),
            ("upsample_bilinear_down", .bilinear), ("upsample_bilinear_align", .bilinearAlignCorners),
        ]
        for (name, mode) in cases {
            let size = try ParityFixtures.options(name, "size")
            try check(name, inputs: ["x"]) { $0["x"]!.upsampled(height: size[0], width: size[1], mode: mode) }
        }
        for (name, mode) in [("pad_reflect", PaddingMode.reflect), ("pad_replicate", .replicate), ("pad_zeros", .zeros)] {
            let pad = try ParityFixtures.options(name, "pad")
            try check(name, inputs: ["x"]) { $0["x"]!.padded(left: pad[0], right: pad[1], top: pad[2], bottom: pad[3], mode: mode) }
        }
        try check("avg_pool", inputs: ["x"]) { $0["x"]!.averagePooled(kernel: 3, stride: 2, padding: 1) }
    }

    func testAttentionSoftmaxActivationsAndLosses() throws {
        try check("attention", inputs: ["q", "k", "v"]) {
            Tensor.scaledDotProductAttention(query: $0["q"]!, key: $0["k"]!, value: $0["v"]!)
        }
        try check("softmax", inputs: ["x"]) { $0["x"]!.softmax(axis: 1) }
        try check("gelu", inputs: ["x"]) { $0["x"]!.gelu() }
        try check("silu", inputs: ["x"]) { $0["x"]!.silu() }
        let l1Target = try ParityFixtures.tensor("l1_loss", "t")
        try check("l1_loss", inputs: ["p"]) { Tensor.l1Loss($0["p"]!, l1Target) }
        let mseTarget = try ParityFixtures.tensor("mse_loss", "t")
        try check("mse_loss", inputs: ["p"]) { Tensor.mseLoss($0["p"]!, mseTarget) }
        let bceTarget = try ParityFixtures.tensor("bce_with_logits", "t")
        try check("bce_with_logits", inputs: ["p"]) { Tensor.binaryCrossEntropyWithLogits($0["p"]!, bceTarget) }
    }
}
