import Foundation

/// How `Tensor.padded` fills the border.
public enum PaddingMode: String, Sendable, CaseIterable {
    /// Zeros (torch.nn.ZeroPad2d / constant 0).
    case zeros
    /// Mirror without repeating the edge (torch.nn.ReflectionPad2d): needs padding < side.
    case reflect
    /// Repeat the edge (torch.nn.ReplicationPad2d).
    case replicate
}

/// Interpolation for `Tensor.upsampled`.
public enum UpsamplingMode: String, Sendable, CaseIterable {
    /// torch "nearest": source = ⌊dst · in / out⌋.
    case nearest
    /// torch "bilinear" with align_corners = false.
    case bilinear
    /// torch "bilinear" with align_corners = true.
    case bilinearAlignCorners
}

extension Tensor {
    /// Applies a separable gather described by row and column maps to `[N, C, H, W]`.
    func resampled(_ name: String, rows: AxisMap, columns: AxisMap) -> Tensor {
        precondition(rank == 4, "\(name) needs NCHW input, got \(shape)")
        let planes = shape[0] * shape[1], height = shape[2], width = shape[3]
        let output = Tensor(uninitializedShape: [shape[0], shape[1], rows.count, columns.count])
        ResamplingKernels.gather(pointer, inputHeight: height, inputWidth: width, output.pointer,
                                 rows: rows, columns: columns, planes: planes)
        let inputShape = shape
        // The backward is the adjoint scatter; recorded (its own adjoint is this gather) for gradients of gradients.
        let scatter = { (gradient: Tensor) -> Tensor in
            let result = Tensor(uninitializedShape: inputShape)
            ResamplingKernels.scatter(gradient.pointer, result.pointer, inputHeight: height, inputWidth: width,
                                      rows: rows, columns: columns, planes: planes)
            return result
        }
        let secondOrder = { (gradient: Tensor) -> [Tensor?] in
            [Tensor.record(scatter(gradient), name + "_backward", inputs: [gradient]) { upstream in
                [upstream.resampled(name, rows: rows, columns: columns)]
            }]
        }
        return Tensor.record(output, name, inputs: [self], secondOrder: secondOrder) { gradient in [scatter(gradient)] }
    }

    static func paddingMap(size: Int, before: Int, after: Int, mode: PaddingMode) -> AxisMap {
        AxisMap(indices: (0..<(size + before + after)).map { position in
            var source = position - before
            switch mode {
            case .zeros:
                if source < 0 || source >= size { source = -1 }
            case .reflect:
                if source < 0 { source = -source }
                if source >= size { source = 2 * (size - 1) - source }
            case .replicate:
                source = Swift.min(Swift.max(source, 0), size - 1)
            }
            return Int32(source)
        })
    }

    /// Pads the last two dimensions of `[N, C, H, W]`.
    ///
    /// - Returns: `[N, C, H + top + bottom, W + left + right]`.
    public func padded(left: Int, right: Int, top: Int, bottom: Int, mode: PaddingMode) -> Tensor {
        precondition(rank == 4, "padding needs NCHW input, got \(shape)")
        if mode == .reflect {
            precondition(Swift.max(left, right) < shape[3] && Swift.max(top, bottom) < shape[2],
                         "reflection padding \(Swift.max(left, right, top, bottom)) needs a side larger than it, got \(shape)")
        }
        return resampled("pad_\(mode.rawValue)",
                         rows: Tensor.paddingMap(size: shape[2], before: top, after: bottom, mode: mode),
                         columns: Tensor.paddingMap(size: shape[3], before: left, after: right, mode: mode))
    }

    /// Pads all four sides of `[N, C, H, W]` by `amount`.
    public func padded(_ amount: Int, mode: PaddingMode) -> Tensor {
        padded(left: amount, right: amount, top: amount, bottom: amount, mode: mode)
    }

    static func upsamplingMap(input: Int, output: Int, mode: UpsamplingMode) -> AxisMap {
        switch mode {
        case .nearest:
            let scale = Double(input) / Double(output)
            return AxisMap(indices: (0..<output).map { Int32(Swift.min(Int(floor(Double($0) * scale)), input - 1)) })
        case .bilinear, .bilinearAlignCorners:
            var first = [Int32](), second = [Int32](), weights = [Float]()
            for position in 0..<output {
                var source: Double
                if mode == .bilinearAlignCorners {
                    source = output > 1 ? Double(position) * Double(input - 1) / Double(output - 1) : 0
                } else {
                    source = Swift.max((Double(position) + 0.5) * Double(input) / Double(output) - 0.5, 0)
                }
                let low = Swift.min(Int(floor(source)), input - 1)
                let high = Swift.min(low + 1, input - 1)
                first.append(Int32(low))
                second.append(Int32(high))
                weights.append(Float(source - Double(low)))
            }
            return AxisMap(first: first, second: second, secondWeight: weights)
        }
    }

    /// Resizes `[N, C, H, W]` to `[N, C, height, width]` (torch.nn.functional.interpolate).
    public func upsampled(height: Int, width: Int, mode: UpsamplingMode) -> Tensor {
        precondition(rank == 4 && height > 0 && width > 0, "upsampling needs NCHW input, got \(shape)")
        return resampled("upsample_\(mode.rawValue)",
                         rows: Tensor.upsamplingMap(input: shape[2], output: height, mode: mode),
                         columns: Tensor.upsamplingMap(input: shape[3], output: width, mode: mode))
    }

    /// Resizes `[N, C, H, W]` by an integer factor.
    public func upsampled(scale: Int, mode: UpsamplingMode) -> Tensor {
        upsampled(height: shape[2] * scale, width: shape[3] * scale, mode: mode)
    }

    /// Average pooling (torch.nn.functional.avg_pool2d, count_include_pad = true).
    ///
    /// - Returns: `[N, C, Ho, Wo]`, Ho = ⌊(H + 2·padding − kernel) / stride⌋ + 1.
    public func averagePooled(kernel: Int, stride: Int? = nil, padding: Int = 0) -> Tensor {
        precondition(rank == 4, "average pooling needs NCHW input, got \(shape)")
        let stride = stride ?? kernel
        let planes = shape[0] * shape[1], height = shape[2], width = shape[3]
        let outputHeight = (height + 2 * padding - kernel) / stride + 1
        let outputWidth = (width + 2 * padding - kernel) / stride + 1
        let output = Tensor(uninitializedShape: [shape[0], shape[1], outputHeight, outputWidth])
        ResamplingKernels.averagePool(pointer, inputHeight: height, inputWidth: width, output.pointer,
                                      outputHeight: outputHeight, outputWidth: outputWidth, kernel: kernel,
                                      stride: stride, padding: padding, planes: planes)
        let inputShape = shape
        return Tensor.record(output, "avg_pool2d", inputs: [self]) { gradient in
            let result = Tensor(uninitializedShape: inputShape)
            ResamplingKernels.averagePoolBackward(gradient.pointer, outputHeight: outputHeight, outputWidth: outputWidth,
                                                  result.pointer, inputHeight: height, inputWidth: width,
                                                  kernel: kernel, stride: stride, padding: padding, planes: planes)
            return [result]
        }
    }
}
