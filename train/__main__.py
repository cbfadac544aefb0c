from ser.train.cli import app

app(prog_name="ser-train")
