Console.WriteLine("metarl");
