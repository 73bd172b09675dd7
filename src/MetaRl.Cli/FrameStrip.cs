using MetaRl.Evaluation;
using SkiaSharp;

namespace MetaRl.Cli;

/// <summary>
/// `metarl render`'s picture from MuJoCo's offscreen renderer: one row per episode (before adaptation, after each
/// step), one column per moment of the episode, the camera following the torso over a checkered floor.
/// </summary>
internal static class FrameStrip
{
    const int LabelWidth = 230, HeaderHeight = 28;

    public static string Write(IReadOnlyList<EpisodeTrace> traces, string title, string path)
    {
        var first = traces[0].Frames[0];
        int columns = traces.Max(t => t.Frames.Count);
        int width = LabelWidth + columns * first.Width, height = 2 * HeaderHeight + traces.Count * first.Height;
        using var bitmap = new SKBitmap(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(SKColors.White);
            using var font = new SKFont(SKTypeface.Default, 14);
            using var bold = new SKFont(SKTypeface.FromFamilyName(null, SKFontStyle.Bold), 15);
            using var ink = new SKPaint { Color = SKColors.Black, IsAntialias = true };
            canvas.DrawText(title, 8, 19, bold, ink);
            var longest = traces.MaxBy(t => t.Frames.Count)!; // an episode that ended early has fewer frames
            for (int c = 0; c < longest.Frames.Count; c++)
                canvas.DrawText(FormattableString.Invariant($"t = {longest.Frames[c].Step * longest.Dt:0.0} s (step {longest.Frames[c].Step})"),
                    LabelWidth + c * first.Width + 8, HeaderHeight + 19, font, ink);
            for (int r = 0; r < traces.Count; r++)
            {
                int top = 2 * HeaderHeight + r * first.Height;
                var lines = Wrap(traces[r].Label, 28).Append(FormattableString.Invariant($"return {traces[r].Return:0.0}")).ToList();
                for (int l = 0; l < lines.Count; l++) canvas.DrawText(lines[l], 8, top + 24 + 19 * l, font, ink);
                for (int c = 0; c < traces[r].Frames.Count; c++)
                {
                    var f = traces[r].Frames[c];
                    using var frame = ToBitmap(f);
                    canvas.DrawBitmap(frame, LabelWidth + c * first.Width, top);
                    // the camera follows the torso: say where it is
                    canvas.DrawText(FormattableString.Invariant($"x = {traces[r].X[Math.Min(f.Step, traces[r].X.Length - 1)]:0.00} m"), LabelWidth + c * first.Width + 8, top + f.Height - 10, font, ink);
                }
            }
        }
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        using var file = File.Create(path);
        data.SaveTo(file);
        return path;
    }

    static SKBitmap ToBitmap(Frame f)
    {
        var bitmap = new SKBitmap(f.Width, f.Height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        var rgba = new byte[f.Width * f.Height * 4];
        for (int i = 0, j = 0; i < f.Rgb.Length; i += 3, j += 4)
        {
            rgba[j] = f.Rgb[i]; rgba[j + 1] = f.Rgb[i + 1]; rgba[j + 2] = f.Rgb[i + 2]; rgba[j + 3] = 255;
        }
        System.Runtime.InteropServices.Marshal.Copy(rgba, 0, bitmap.GetPixels(), rgba.Length);
        return bitmap;
    }

    static IEnumerable<string> Wrap(string text, int width)
    {
        var line = "";
        foreach (var word in text.Split(' '))
        {
            if (line.Length > 0 && line.Length + 1 + word.Length > width) { yield return line; line = word; }
            else line = line.Length == 0 ? word : line + " " + word;
        }
        if (line.Length > 0) yield return line;
    }
}
