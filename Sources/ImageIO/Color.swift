import Foundation

/// Colour conversions. Lab follows scikit-image (`skimage.color.rgb2lab`: sRGB, D65 white
/// (0.95047, 1, 1.08883), CIE constants 0.008856 and 7.787); gray and YCbCr follow PIL's 8-bit
/// conversions (ITU-R 601 luma, JPEG full-range YCbCr).
public enum ColorSpace {
    /// sRGB transfer function inverse: encoded [0, 1] → linear.
    @inline(__always)
    static func linearized(_ value: Double) -> Double {
        value <= 0.04045 ? value / 12.92 : Foundation.pow((value + 0.055) / 1.055, 2.4)
    }

    /// sRGB transfer function: linear → encoded [0, 1].
    @inline(__always)
    static func encoded(_ value: Double) -> Double {
        value <= 0.0031308 ? 12.92 * value : 1.055 * Foundation.pow(value, 1 / 2.4) - 0.055
    }

    /// skimage's `xyz_from_rgb`.
    static let xyzFromRGB: [Double] = [0.412453, 0.357580, 0.180423,
                                       0.212671, 0.715160, 0.072169,
                                       0.019334, 0.119193, 0.950227]
    /// Its inverse (skimage's `rgb_from_xyz = linalg.inv(xyz_from_rgb)`).
    static let rgbFromXYZ: [Double] = {
        let m = xyzFromRGB
        let c00 = m[4] * m[8] - m[5] * m[7], c01 = m[5] * m[6] - m[3] * m[8], c02 = m[3] * m[7] - m[4] * m[6]
        let determinant = m[0] * c00 + m[1] * c01 + m[2] * c02
        return [c00, m[2] * m[7] - m[1] * m[8], m[1] * m[5] - m[2] * m[4],
                c01, m[0] * m[8] - m[2] * m[6], m[2] * m[3] - m[0] * m[5],
                c02, m[1] * m[6] - m[0] * m[7], m[0] * m[4] - m[1] * m[3]].map { $0 / determinant }
    }()
    static let whitePoint: (Double, Double, Double) = (0.95047, 1.0, 1.08883)

    /// sRGB in [0, 1] → CIE L*a*b* (L in [0, 100]).
    public static func lab(red: Double, green: Double, blue: Double) -> (l: Double, a: Double, b: Double) {
        let r = linearized(red), g = linearized(green), b = linearized(blue)
        let m = xyzFromRGB
        let x = (m[0] * r + m[1] * g + m[2] * b) / whitePoint.0
        let y = (m[3] * r + m[4] * g + m[5] * b) / whitePoint.1
        let z = (m[6] * r + m[7] * g + m[8] * b) / whitePoint.2
        func f(_ t: Double) -> Double { t > 0.008856 ? Foundation.cbrt(t) : 7.787 * t + 16.0 / 116.0 }
        let fx = f(x), fy = f(y), fz = f(z)
        return (116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz))
    }

    /// CIE L*a*b* → sRGB in [0, 1] (clipped, as skimage's `lab2rgb`).
    public static func rgb(l: Double, a: Double, b: Double) -> (red: Double, green: Double, blue: Double) {
        let fy = (l + 16) / 116, fx = a / 500 + fy, fz = Swift.max(fy - b / 200, 0)
        func inverse(_ f: Double) -> Double { let cube = f * f * f; return cube > 0.008856 ? cube : (f - 16.0 / 116.0) / 7.787 }
        let x = inverse(fx) * whitePoint.0, y = inverse(fy) * whitePoint.1, z = inverse(fz) * whitePoint.2
        let m = rgbFromXYZ
        func channel(_ row: Int) -> Double {
            Swift.min(Swift.max(encoded(Swift.max(m[row * 3] * x + m[row * 3 + 1] * y + m[row * 3 + 2] * z, 0)), 0), 1)
        }
        return (channel(0), channel(1), channel(2))
    }

    /// PIL's 8-bit RGB → L: (19595·R + 38470·G + 7471·B + 2¹⁵) >> 16, i.e. 0.299R + 0.587G + 0.114B rounded.
    @inline(__always)
    public static func luma(red: UInt16, green: UInt16, blue: UInt16) -> UInt16 {
        let weighted: UInt32 = UInt32(red) &* 19595 &+ UInt32(green) &* 38470
        let total: UInt32 = weighted &+ UInt32(blue) &* 7471 &+ 0x8000
        return UInt16(total >> 16)
    }

    /// Full-range YCbCr (JPEG/PIL) from 8-bit RGB, rounded.
    public static func yCbCr(red: Double, green: Double, blue: Double) -> (y: Double, cb: Double, cr: Double) {
        (0.299 * red + 0.587 * green + 0.114 * blue,
         128 - 0.168736 * red - 0.331264 * green + 0.5 * blue,
         128 + 0.5 * red - 0.418688 * green - 0.081312 * blue)
    }

    /// 8-bit RGB from full-range YCbCr.
    public static func rgb(y: Double, cb: Double, cr: Double) -> (red: Double, green: Double, blue: Double) {
        (y + 1.402 * (cr - 128), y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128), y + 1.772 * (cb - 128))
    }
}

extension Image {
    /// Gray (1 channel) with PIL's luma weights; gray inputs are returned as they are (alpha dropped).
    public func grayscale() -> Image {
        let opaque = withoutAlpha()
        guard opaque.channels == 3 else { return opaque }
        var result = Image(width: width, height: height, channels: 1, bitDepth: bitDepth, repeating: 0)
        for pixel in 0..<pixelCount {
            result.samples[pixel] = ColorSpace.luma(red: opaque.samples[3 * pixel], green: opaque.samples[3 * pixel + 1],
                                                    blue: opaque.samples[3 * pixel + 2])
        }
        return result
    }

    /// RGB (3 channels): gray is replicated, alpha dropped.
    public func rgb() -> Image {
        let opaque = withoutAlpha()
        guard opaque.channels == 1 else { return opaque }
        var result = Image(width: width, height: height, channels: 3, bitDepth: bitDepth, repeating: 0)
        for pixel in 0..<pixelCount {
            let value = opaque.samples[pixel]
            result.samples[3 * pixel] = value
            result.samples[3 * pixel + 1] = value
            result.samples[3 * pixel + 2] = value
        }
        return result
    }
}
