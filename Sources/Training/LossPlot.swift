import Foundation
import ImageIO

/// The losses logged at one iteration.
public struct LossRecord: Equatable, Sendable {
    public var epoch: Int
    public var iteration: Int
    public var losses: [String: Float]

    public init(epoch: Int, iteration: Int, losses: [String: Float]) {
        self.epoch = epoch
        self.iteration = iteration
        self.losses = losses
    }
}

/// Draws loss curves (loss against iteration, one colour per loss, with a legend) onto an 8-bit RGB image.
public enum LossPlot {
    /// Renders `records`; each series is smoothed by a centred moving average over ~1/40 of the points, and the
    /// y axis runs from 0 (or the smallest value, if negative) to the largest smoothed value.
    ///
    /// - Parameters:
    ///   - names: the series in legend order (default: every loss name, sorted).
    /// - Returns: a `width × height` RGB image; an empty frame with a note when there is nothing to draw.
    public static func render(_ records: [LossRecord], names: [String]? = nil, title: String = "",
                              width: Int = 800, height: Int = 450) -> Image {
        var image = Image.canvas(width: width, height: height)
        let series = names ?? Array(Set(records.flatMap(\.losses.keys))).sorted()
        let left = 70, right = width - 20, top = 40, bottom = height - 40
        image.drawText(title, x: left, y: 8, color: .black, scale: 2)
        let curves: [(name: String, points: [(Double, Double)])] = series.map { name in
            let raw = records.compactMap { record in record.losses[name].map { (Double(record.iteration), Double($0)) } }
                .filter { $0.1.isFinite }
            return (name, smoothed(raw))
        }
        let all = curves.flatMap(\.points)
        guard let firstIteration = all.map(\.0).min(), let lastIteration = all.map(\.0).max(),
              let highest = all.map(\.1).max(), let lowest = all.map(\.1).min() else {
            image.drawText("NO LOSSES LOGGED YET", x: left, y: height / 2, color: .black, scale: 2)
            return image
        }
        let minimumY = Swift.min(0, lowest), maximumY = highest > minimumY ? highest * 1.05 : minimumY + 1
        let spanX = Swift.max(lastIteration - firstIteration, 1)
        func pixel(_ point: (Double, Double)) -> (x: Int, y: Int) {
            (left + Int(((point.0 - firstIteration) / spanX * Double(right - left)).rounded()),
             bottom - Int(((point.1 - minimumY) / (maximumY - minimumY) * Double(bottom - top)).rounded()))
        }
        // Grid, tick labels, axes.
        for tick in 0...4 {
            let value = minimumY + (maximumY - minimumY) * Double(tick) / 4
            let y = bottom - (bottom - top) * tick / 4
            image.drawLine(from: (left, y), to: (right, y), color: .gray)
            let label = formatted(value)
            image.drawText(label, x: left - 6 - Image.textWidth(label), y: y - 3, color: .black)
            let iteration = Int((firstIteration + spanX * Double(tick) / 4).rounded())
            let x = left + (right - left) * tick / 4
            image.drawLine(from: (x, bottom), to: (x, bottom + 4), color: .black)
            let text = String(iteration)
            image.drawText(text, x: Swift.min(x - Image.textWidth(text) / 2, width - Image.textWidth(text)), y: bottom + 8,
                           color: .black)
        }
        image.drawLine(from: (left, top), to: (left, bottom), color: .black)
        image.drawLine(from: (left, bottom), to: (right, bottom), color: .black)
        image.drawText("ITERATION", x: (left + right) / 2 - Image.textWidth("ITERATION") / 2, y: bottom + 22, color: .black)
        // Curves and legend.
        var legendX = left + 4
        for (index, curve) in curves.enumerated() {
            let color = DrawingColor.series(index)
            for (from, to) in zip(curve.points, curve.points.dropFirst()) {
                image.drawLine(from: pixel(from), to: pixel(to), color: color, thickness: 2)
            }
            if curve.points.count == 1 { image.fill(x: pixel(curve.points[0]).x - 2, y: pixel(curve.points[0]).y - 2, width: 5, height: 5, color: color) }
            image.fill(x: legendX, y: top + 4, width: 12, height: 7, color: color)
            legendX = image.drawText(curve.name, x: legendX + 16, y: top + 4, color: .black) + 12
        }
        return image
    }

    /// Centred moving average over a window of about 1/40 of the points (at least 1).
    static func smoothed(_ points: [(Double, Double)]) -> [(Double, Double)] {
        let radius = points.count / 80
        guard radius > 0 else { return points }
        var prefix = [0.0]
        for point in points { prefix.append(prefix.last! + point.1) }
        return points.indices.map { index in
            let low = Swift.max(0, index - radius), high = Swift.min(points.count, index + radius + 1)
            return (points[index].0, (prefix[high] - prefix[low]) / Double(high - low))
        }
    }

    static func formatted(_ value: Double) -> String {
        if value == 0 { return "0" }
        let magnitude = abs(value)
        if magnitude >= 1000 || magnitude < 0.01 { return String(format: "%.1E", value) }
        if magnitude >= 10 { return String(format: "%.0f", value) }
        return String(format: magnitude >= 1 ? "%.1f" : "%.2f", value)
    }
}
