import Foundation

extension Image {
    /// An image of `width × height` whose pixel (x, y) is this image's pixel `source(x, y)`.
    func remapped(width: Int, height: Int, _ source: (Int, Int) -> (Int, Int)) -> Image {
        var result = Image(width: width, height: height, channels: channels, bitDepth: bitDepth, repeating: 0)
        for y in 0..<height {
            for x in 0..<width {
                let (sourceX, sourceY) = source(x, y)
                let from = (sourceY * self.width + sourceX) * channels, to = (y * width + x) * channels
                for channel in 0..<channels { result.samples[to + channel] = samples[from + channel] }
            }
        }
        return result
    }

    /// Mirrored left to right.
    public func flippedHorizontally() -> Image { remapped(width: width, height: height) { (width - 1 - $0, $1) } }

    /// Mirrored top to bottom.
    public func flippedVertically() -> Image { remapped(width: width, height: height) { ($0, height - 1 - $1) } }

    /// Upright according to an EXIF orientation value (1–8), as PIL's `ImageOps.exif_transpose`.
    public func oriented(exifOrientation orientation: Int) -> Image {
        let (w, h) = (width, height)
        switch orientation {
        case 2: return flippedHorizontally()
        case 3: return remapped(width: w, height: h) { (w - 1 - $0, h - 1 - $1) }
        case 4: return flippedVertically()
        case 5: return remapped(width: h, height: w) { ($1, $0) }                    // transpose
        case 6: return remapped(width: h, height: w) { ($1, h - 1 - $0) }            // 90° clockwise
        case 7: return remapped(width: h, height: w) { (w - 1 - $1, h - 1 - $0) }    // transverse
        case 8: return remapped(width: h, height: w) { (w - 1 - $1, $0) }            // 90° counter-clockwise
        default: return self
        }
    }

    /// The region `x..<x + width`, `y..<y + height`, which must lie inside the image.
    public func cropped(x: Int, y: Int, width: Int, height: Int) -> Image {
        precondition(x >= 0 && y >= 0 && width > 0 && height > 0 && x + width <= self.width && y + height <= self.height,
                     "crop \(width)x\(height)+\(x)+\(y) outside \(self.width)x\(self.height)")
        return remapped(width: width, height: height) { ($0 + x, $1 + y) }
    }

    /// The central `width × height` region (torchvision CenterCrop: offsets round((W − w)/2), ties to even).
    public func centerCropped(width: Int, height: Int) -> Image {
        let x = Int((Double(self.width - width) / 2).rounded(.toNearestOrEven))
        let y = Int((Double(self.height - height) / 2).rounded(.toNearestOrEven))
        return croppedPaddingWithZeros(x: x, y: y, width: width, height: height)
    }

    /// The same pixels without an alpha channel (gray+alpha → gray, RGBA → RGB).
    public func withoutAlpha() -> Image {
        guard channels == 2 || channels == 4 else { return self }
        let kept = channels - 1
        var result = Image(width: width, height: height, channels: kept, bitDepth: bitDepth, repeating: 0)
        for pixel in 0..<pixelCount {
            for channel in 0..<kept { result.samples[pixel * kept + channel] = samples[pixel * channels + channel] }
        }
        return result
    }

    /// Samples rescaled to `bitDepth` bits (8 → 16 multiplies by 257; 16 → 8 rounds).
    public func converted(toBitDepth depth: Int) -> Image {
        guard depth != bitDepth else { return self }
        var result = self
        result.bitDepth = depth
        if depth == 16 {
            result.samples = samples.map { $0 * 257 }
        } else {
            result.samples = samples.map { UInt16((UInt32($0) * 255 + 32767) / 65535) }
        }
        return result
    }
}
