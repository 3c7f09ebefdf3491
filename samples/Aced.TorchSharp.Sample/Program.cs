namespace Aced.TorchSharp.Sample;

public static class Program
{
    public static int Main(string[] args)
    {
        System.Console.Error.WriteLine("aced-torch: not built yet");
        return 2;
    }
}
