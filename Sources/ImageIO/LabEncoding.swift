import Foundation
import Tensor

/// The one Lab encoding every colorizer uses (the reference's ColorizationDataset, skimage's rgb2lab/lab2rgb):
/// lightness as L/50 − 1 and chroma as ab/110, so both lie about in [−1, 1].
public enum LabEncoding {
    /// L/50 − 1 (`[1, 1, H, W]`) and ab/110 (`[1, 2, H, W]`) of an 8-bit RGB image.
    public static func split(_ image: Image) -> (lightness: Tensor, chroma: Tensor) {
        let plane = image.width * image.height
        let lightness = Tensor(uninitializedShape: [1, 1, image.height, image.width])
        let chroma = Tensor(uninitializedShape: [1, 2, image.height, image.width])
        for pixel in 0..<plane {
            let lab = ColorSpace.lab(red: Double(image.samples[3 * pixel]) / 255, green: Double(image.samples[3 * pixel + 1]) / 255,
                                     blue: Double(image.samples[3 * pixel + 2]) / 255)
            lightness.pointer[pixel] = Float(lab.l) / 50 - 1
            chroma.pointer[pixel] = Float(lab.a) / 110
            chroma.pointer[plane + pixel] = Float(lab.b) / 110
        }
        return (lightness, chroma)
    }

    /// The 8-bit RGB image of a lightness plane (`[1, 1, H, W]`, L/50 − 1) and chroma (`[1, 2, H, W]`, ab/110), the
    /// inverse of ``split(_:)`` (clipped to the gamut). Only the first sample of a batch is used.
    public static func merge(lightness: Tensor, chroma: Tensor) -> Image {
        let height = lightness.shape[2], width = lightness.shape[3], plane = width * height
        precondition(chroma.shape[1] == 2 && chroma.shape[2] == height && chroma.shape[3] == width,
                     "chroma \(chroma.shape) does not match lightness \(lightness.shape)")
        var samples = [UInt16](repeating: 0, count: 3 * plane)
        for pixel in 0..<plane {
            let rgb = ColorSpace.rgb(l: Double(lightness.pointer[pixel] + 1) * 50, a: Double(chroma.pointer[pixel]) * 110,
                                     b: Double(chroma.pointer[plane + pixel]) * 110)
            for (channel, value) in [rgb.red, rgb.green, rgb.blue].enumerated() {
                samples[3 * pixel + channel] = UInt16((Swift.min(Swift.max(value, 0), 1) * 255).rounded())
            }
        }
        return Image(width: width, height: height, channels: 3, samples: samples)
    }

    /// The lightness (L/50 − 1, `[N, 1, H, W]`) of RGB tensors `[N, 3, H, W]` in [−1, 1] (no gradient).
    public static func lightness(ofRGB image: Tensor) -> Tensor {
        let (batch, height, width) = (image.shape[0], image.shape[2], image.shape[3]), plane = height * width
        let output = Tensor(uninitializedShape: [batch, 1, height, width])
        for sample in 0..<batch {
            let base = sample * 3 * plane
            for pixel in 0..<plane {
                func unit(_ channel: Int) -> Double { min(max((Double(image.pointer[base + channel * plane + pixel]) + 1) / 2, 0), 1) }
                output.pointer[sample * plane + pixel] = Float(ColorSpace.lab(red: unit(0), green: unit(1), blue: unit(2)).l / 50 - 1)
            }
        }
        return output
    }

    /// RGB `[1, 3, H, W]` in [−1, 1] with its lightness replaced by `lightness` (`[1, 1, H, W]`, L/50 − 1): the chroma
    /// of `image` on the given L, clipped to the sRGB gamut.
    public static func replacingLightness(ofRGB image: Tensor, with lightness: Tensor) -> Tensor {
        let plane = image.shape[2] * image.shape[3]
        let output = Tensor(uninitializedShape: image.shape)
        for pixel in 0..<plane {
            func unit(_ channel: Int) -> Double { min(max((Double(image.pointer[channel * plane + pixel]) + 1) / 2, 0), 1) }
            let lab = ColorSpace.lab(red: unit(0), green: unit(1), blue: unit(2))
            let rgb = ColorSpace.rgb(l: (Double(lightness.pointer[pixel]) + 1) * 50, a: lab.a, b: lab.b)
            for (channel, value) in [rgb.red, rgb.green, rgb.blue].enumerated() { output.pointer[channel * plane + pixel] = Float(value * 2 - 1) }
        }
        return output
    }

    /// RGB tensors `[N, 3, H, W]` in [−1, 1] of lightness `[N, 1, H, W]` (L/50 − 1) and chroma `[N, 2, H, W]` (ab/110),
    /// clipped to the sRGB gamut (no gradient).
    public static func rgb(lightness: Tensor, chroma: Tensor) -> Tensor {
        let (batch, height, width) = (lightness.shape[0], lightness.shape[2], lightness.shape[3]), plane = height * width
        let output = Tensor(uninitializedShape: [batch, 3, height, width])
        for sample in 0..<batch {
            for pixel in 0..<plane {
                let rgb = ColorSpace.rgb(l: Double(lightness.pointer[sample * plane + pixel] + 1) * 50,
                                         a: Double(chroma.pointer[(sample * 2) * plane + pixel]) * 110,
                                         b: Double(chroma.pointer[(sample * 2 + 1) * plane + pixel]) * 110)
                for (channel, value) in [rgb.red, rgb.green, rgb.blue].enumerated() {
                    output.pointer[(sample * 3 + channel) * plane + pixel] = Float(Swift.min(Swift.max(value, 0), 1) * 2 - 1)
                }
            }
        }
        return output
    }

    /// Lightness (L/50 − 1, `[N, 1, H, W]`) and chroma (ab/110, `[N, 2, H, W]`) of RGB tensors `[N, 3, H, W]` in [−1, 1].
    public static func split(rgb image: Tensor) -> (lightness: Tensor, chroma: Tensor) {
        let (batch, height, width) = (image.shape[0], image.shape[2], image.shape[3]), plane = height * width
        let lightness = Tensor(uninitializedShape: [batch, 1, height, width])
        let chroma = Tensor(uninitializedShape: [batch, 2, height, width])
        for sample in 0..<batch {
            let base = sample * 3 * plane
            for pixel in 0..<plane {
                func unit(_ channel: Int) -> Double { min(max((Double(image.pointer[base + channel * plane + pixel]) + 1) / 2, 0), 1) }
                let lab = ColorSpace.lab(red: unit(0), green: unit(1), blue: unit(2))
                lightness.pointer[sample * plane + pixel] = Float(lab.l / 50 - 1)
                chroma.pointer[(sample * 2) * plane + pixel] = Float(lab.a / 110)
                chroma.pointer[(sample * 2 + 1) * plane + pixel] = Float(lab.b / 110)
            }
        }
        return (lightness, chroma)
    }
}
