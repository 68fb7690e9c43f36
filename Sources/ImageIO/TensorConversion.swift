import Foundation
import Tensor

extension Image {
    /// The image as a `[1, C, H, W]` tensor in [−1, 1]: `(v / max − 0.5) / 0.5`, the reference
    /// pipeline's `ToTensor` + `Normalize(0.5, 0.5)`.
    public func tensor() -> Tensor {
        let result = Tensor(uninitializedShape: [1, channels, height, width])
        let scale = 2 / Float(maximumValue)
        let plane = width * height
        for pixel in 0..<plane {
            for channel in 0..<channels {
                result.pointer[channel * plane + pixel] = Float(samples[pixel * channels + channel]) * scale - 1
            }
        }
        return result
    }

    /// An 8-bit image from a `[1, C, H, W]` or `[C, H, W]` tensor in [−1, 1] (values outside are clamped):
    /// `round((x + 1) / 2 · 255)`.
    public init(tensor: Tensor) {
        let shape = tensor.rank == 4 ? Array(tensor.shape.dropFirst()) : tensor.shape
        precondition(shape.count == 3 && (tensor.rank == 3 || tensor.shape[0] == 1) && (1...4).contains(shape[0]),
                     "Image(tensor:) needs [1, C, H, W] or [C, H, W] with 1–4 channels, got \(tensor.shape)")
        let (channels, height, width) = (shape[0], shape[1], shape[2])
        var samples = [UInt16](repeating: 0, count: channels * height * width)
        let plane = width * height
        for pixel in 0..<plane {
            for channel in 0..<channels {
                let value = Swift.min(Swift.max(tensor.pointer[channel * plane + pixel], -1), 1)
                samples[pixel * channels + channel] = UInt16(((value + 1) * 127.5).rounded())
            }
        }
        self.init(width: width, height: height, channels: channels, bitDepth: 8, samples: samples)
    }
}
