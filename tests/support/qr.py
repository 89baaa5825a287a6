"""Read QR codes from screenshots (PNG bytes) with zxing-cpp, to check what a page shows decodes right."""

from __future__ import annotations

import io


def decode_qr(png: bytes) -> list[str]:
    """The texts of every QR code found in the image, in reading order."""
    import zxingcpp
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L")
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    return [barcode.text for barcode in found]
