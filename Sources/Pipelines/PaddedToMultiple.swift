import Tensor

/// An image tensor padded so its sides are multiples of what a network needs, and how to crop results back: the one
/// pad-and-crop every pipeline uses (images keep their own size; they are never resized to fit).
///
/// The pad is centred (the odd pixel goes right/bottom) and reflects the border; where a pad is not smaller than the
/// side (tiny images), it repeats the edge instead.
public struct PaddedToMultiple {
    /// `[N, C, H + padHeight, W + padWidth]`.
    public let tensor: Tensor
    public let top: Int
    public let left: Int
    /// The unpadded size.
    public let height: Int
    public let width: Int

    /// Pads `input` `[N, C, H, W]` to multiples of `multiple` (itself when it already fits).
    public init(_ input: Tensor, multiple: Int) {
        height = input.shape[2]
        width = input.shape[3]
        let padHeight = (multiple - height % multiple) % multiple, padWidth = (multiple - width % multiple) % multiple
        top = padHeight / 2
        left = padWidth / 2
        guard padHeight > 0 || padWidth > 0 else { tensor = input; return }
        let mode: PaddingMode = padHeight - top < height && padWidth - left < width ? .reflect : .replicate
        tensor = input.padded(left: left, right: padWidth - left, top: top, bottom: padHeight - top, mode: mode)
    }

    /// Whether anything was padded.
    public var isPadded: Bool { tensor.shape[2] != height || tensor.shape[3] != width }

    /// `output` (the padded grid, times `scale` for an upscaler) cropped back to the unpadded region.
    public func cropped(_ output: Tensor, scale: Int = 1) -> Tensor {
        guard isPadded else { return output }
        return output.sliced(axis: 2, (top * scale)..<((top + height) * scale)).sliced(axis: 3, (left * scale)..<((left + width) * scale))
    }
}
