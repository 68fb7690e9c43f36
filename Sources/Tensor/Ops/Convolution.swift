import Foundation

extension Tensor {
    /// 2-D convolution (cross-correlation), as `torch.nn.functional.conv2d`, with zero padding.
    ///
    /// - Parameters:
    ///   - input: `[N, Cin, H, W]`.
    ///   - weight: `[Cout, Cin / groups, kh, kw]`.
    ///   - bias: `[Cout]` or nil.
    /// - Returns: `[N, Cout, Ho, Wo]` with Ho = ⌊(H + 2·padding − dilation·(kh − 1) − 1) / stride⌋ + 1 (same for W).
    public static func conv2d(
        _ input: Tensor, weight: Tensor, bias: Tensor? = nil,
        stride: Int = 1, padding: Int = 0, dilation: Int = 1, groups: Int = 1
    ) -> Tensor {
        precondition(input.rank == 4 && weight.rank == 4, "conv2d needs NCHW input and 4-D weight, got \(input.shape), \(weight.shape)")
        precondition(input.shape[1] == weight.shape[1] * groups && weight.shape[0] % groups == 0,
                     "conv2d input \(input.shape) does not fit weight \(weight.shape) with \(groups) groups")
        let geometry = ConvolutionGeometry(
            batch: input.shape[0], inputChannels: input.shape[1], inputHeight: input.shape[2], inputWidth: input.shape[3],
            outputChannels: weight.shape[0], kernelHeight: weight.shape[2], kernelWidth: weight.shape[3],
            stride: stride, padding: padding, dilation: dilation, groups: groups)
        precondition(geometry.outputHeight > 0 && geometry.outputWidth > 0, "conv2d output would be empty for \(input.shape)")
        let output = Tensor(uninitializedShape: [geometry.batch, geometry.outputChannels, geometry.outputHeight, geometry.outputWidth])
        ConvolutionKernels.forward(geometry, input: input.pointer, weight: weight.pointer, output: output.pointer)
        if let bias { addChannelBias(output, bias) }
        let inputs = [input, weight] + (bias.map { [$0] } ?? [])
        let secondOrder = { (gradient: Tensor) -> [Tensor?] in
            conv2dGradients(gradient, input: input, weight: weight, hasBias: bias != nil, stride: stride, padding: padding,
                            dilation: dilation, groups: groups)
        }
        return record(output, "conv2d", inputs: inputs, secondOrder: secondOrder) { gradient in
            var results: [Tensor?] = [nil, nil]
            if input.needsGradient {
                let gradientInput = Tensor(uninitializedShape: input.shape)
                ConvolutionKernels.backwardInput(geometry, gradientOutput: gradient.pointer, weight: weight.pointer,
                                                 gradientInput: gradientInput.pointer)
                results[0] = gradientInput
            }
            if weight.needsGradient {
                let gradientWeight = Tensor(uninitializedShape: weight.shape)
                ConvolutionKernels.backwardWeight(geometry, input: input.pointer, gradientOutput: gradient.pointer,
                                                  gradientWeight: gradientWeight.pointer)
                results[1] = gradientWeight
            }
            if bias != nil { results.append(channelSums(gradient)) }
            return results
        }
    }

    /// Transposed 2-D convolution, as `torch.nn.functional.conv_transpose2d`.
    ///
    /// - Parameters:
    ///   - input: `[N, Cin, H, W]`.
    ///   - weight: `[Cin, Cout / groups, kh, kw]` (PyTorch's layout).
    ///   - bias: `[Cout]` or nil.
    /// - Returns: `[N, Cout, Ho, Wo]` with Ho = (H − 1)·stride − 2·padding + dilation·(kh − 1) + outputPadding + 1.
    public static func convTranspose2d(
        _ input: Tensor, weight: Tensor, bias: Tensor? = nil,
        stride: Int = 1, padding: Int = 0, outputPadding: Int = 0, dilation: Int = 1, groups: Int = 1
    ) -> Tensor {
        precondition(input.rank == 4 && weight.rank == 4 && input.shape[1] == weight.shape[0],
                     "conv_transpose2d input \(input.shape) does not fit weight \(weight.shape)")
        precondition(outputPadding < Swift.max(stride, dilation), "output padding must be smaller than stride or dilation")
        let outputHeight = (input.shape[2] - 1) * stride - 2 * padding + dilation * (weight.shape[2] - 1) + outputPadding + 1
        let outputWidth = (input.shape[3] - 1) * stride - 2 * padding + dilation * (weight.shape[3] - 1) + outputPadding + 1
        // The convolution whose input gradient this is: image = our output, its output = our input.
        var geometry = ConvolutionGeometry(
            batch: input.shape[0], inputChannels: weight.shape[1] * groups, inputHeight: outputHeight,
            inputWidth: outputWidth, outputChannels: input.shape[1], kernelHeight: weight.shape[2],
            kernelWidth: weight.shape[3], stride: stride, padding: padding, dilation: dilation, groups: groups)
        geometry.outputHeight = input.shape[2]
        geometry.outputWidth = input.shape[3]
        let output = Tensor(uninitializedShape: [geometry.batch, geometry.inputChannels, outputHeight, outputWidth])
        ConvolutionKernels.backwardInput(geometry, gradientOutput: input.pointer, weight: weight.pointer,
                                         gradientInput: output.pointer)
        if let bias { addChannelBias(output, bias) }
        let inputs = [input, weight] + (bias.map { [$0] } ?? [])
        return record(output, "conv_transpose2d", inputs: inputs) { gradient in
            var results: [Tensor?] = [nil, nil]
            if input.needsGradient {
                let gradientInput = Tensor(uninitializedShape: input.shape)
                ConvolutionKernels.forward(geometry, input: gradient.pointer, weight: weight.pointer,
                                           output: gradientInput.pointer)
                results[0] = gradientInput
            }
            if weight.needsGradient {
                let gradientWeight = Tensor(uninitializedShape: weight.shape)
                ConvolutionKernels.backwardWeight(geometry, input: gradient.pointer, gradientOutput: input.pointer,
                                                  gradientWeight: gradientWeight.pointer)
                results[1] = gradientWeight
            }
            if bias != nil { results.append(channelSums(gradient)) }
            return results
        }
    }

    /// conv2d's gradients in recorded ops (for gradients of gradients): the input's as the transposed convolution of
    /// `gradient` with the weight, the weight's as a convolution of the input (channels as batch) with `gradient`
    /// (dilation and stride swapped), the bias's as channel sums.
    static func conv2dGradients(_ gradient: Tensor, input: Tensor, weight: Tensor, hasBias: Bool, stride: Int, padding: Int,
                                dilation: Int, groups: Int) -> [Tensor?] {
        var results: [Tensor?] = [nil, nil]
        if input.needsGradient {
            let span = { (outputSide: Int, kernel: Int) in (outputSide - 1) * stride - 2 * padding + dilation * (kernel - 1) + 1 }
            let extraHeight = input.shape[2] - span(gradient.shape[2], weight.shape[2])
            let extraWidth = input.shape[3] - span(gradient.shape[3], weight.shape[3])
            precondition(extraHeight == extraWidth, "conv2d second order needs the same leftover rows and columns")
            results[0] = convTranspose2d(gradient, weight: weight, stride: stride, padding: padding, outputPadding: extraHeight,
                                         dilation: dilation, groups: groups)
        }
        if weight.needsGradient {
            precondition(groups == 1, "conv2d second order of the weight needs groups 1")
            let full = conv2d(input.permuted([1, 0, 2, 3]), weight: gradient.permuted([1, 0, 2, 3]), stride: dilation,
                              padding: padding, dilation: stride)
            results[1] = full.sliced(axis: 2, 0..<weight.shape[2]).sliced(axis: 3, 0..<weight.shape[3]).permuted([1, 0, 2, 3])
        }
        if hasBias { results.append(gradient.sum(axes: [0, 2, 3])) }
        return results
    }

    /// Adds `bias[C]` to every pixel of `output[N, C, H, W]` in place.
    static func addChannelBias(_ output: Tensor, _ bias: Tensor) {
        let batch = output.shape[0], channels = output.shape[1], plane = output.count / Swift.max(batch * channels, 1)
        precondition(bias.count == channels, "bias \(bias.shape) for \(channels) channels")
        Parallel.forEachRange(batch * channels, minimumPerWorker: Swift.max(1, 16384 / Swift.max(plane, 1))) { range in
            for row in range {
                let value = bias.pointer[row % channels]
                let line = output.pointer + row * plane
                for index in 0..<plane { line[index] += value }
            }
        }
    }

    /// Per-channel sums of `[N, C, …]`, shape `[C]`.
    static func channelSums(_ tensor: Tensor) -> Tensor {
        let batch = tensor.shape[0], channels = tensor.shape[1], plane = tensor.count / Swift.max(batch * channels, 1)
        let result = Tensor.zeros([channels])
        for image in 0..<batch {
            for channel in 0..<channels {
                result.pointer[channel] += Float(ElementwiseKernels.sum(tensor.pointer + (image * channels + channel) * plane,
                                                                       count: plane))
            }
        }
        return result
    }
}
