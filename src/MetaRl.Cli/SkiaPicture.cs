using SkiaSharp;

namespace MetaRl.Cli;

/// <summary>A picture drawn once onto a canvas and written twice: a PNG and an SVG (the belief and posterior pictures).</summary>
internal static class SkiaPicture
{
    public static IReadOnlyList<string> WritePngAndSvg(int width, int height, Action<SKCanvas> draw, string outputPrefix)
    {
        string png = outputPrefix + ".png", svg = outputPrefix + ".svg";
        using (var bitmap = new SKBitmap(width, height))
        {
            using (var canvas = new SKCanvas(bitmap)) draw(canvas);
            using var image = SKImage.FromBitmap(bitmap);
            using var data = image.Encode(SKEncodedImageFormat.Png, 100);
            using var file = File.Create(png);
            data.SaveTo(file);
        }
        using (var stream = File.Create(svg))
        using (var canvas = SKSvgCanvas.Create(SKRect.Create(width, height), stream))
            draw(canvas);
        return [png, svg];
    }
}
