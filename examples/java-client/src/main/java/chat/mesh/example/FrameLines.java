package chat.mesh.example;

import chat.v1.Gateway.ConnectResponse;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Descriptors.OneofDescriptor;
import com.google.protobuf.MessageOrBuilder;
import com.google.protobuf.TextFormat;

/**
 * One line per server frame: the oneof case's proto name, `#request_id` when the frame answers one,
 * then the frame's value in single-line text format. It reads the frame through its descriptor, so
 * a frame added to gateway.proto prints without a change here; a case this build does not know
 * (a newer server) prints as `unknown` with its raw fields.
 */
final class FrameLines {
  private static final OneofDescriptor FRAME = ConnectResponse.getDescriptor().getOneofs().stream()
      .filter(o -> o.getName().equals("frame"))
      .findFirst()
      .orElseThrow();
  private static final TextFormat.Printer PRINTER = TextFormat.printer().escapingNonAscii(false);

  private FrameLines() {}

  /** The proto name of the frame's case ("send_ack"), or "unknown". */
  static String caseName(ConnectResponse frame) {
    FieldDescriptor field = frame.getOneofFieldDescriptor(FRAME);
    return field == null ? "unknown" : field.getName();
  }

  static String format(ConnectResponse frame) {
    FieldDescriptor field = frame.getOneofFieldDescriptor(FRAME);
    StringBuilder line = new StringBuilder(caseName(frame));
    if (!frame.getRequestId().isEmpty()) line.append(" #").append(frame.getRequestId());
    String body = field == null
        ? PRINTER.shortDebugString(frame.getUnknownFields())
        : PRINTER.shortDebugString((MessageOrBuilder) frame.getField(field));
    if (!body.isEmpty()) line.append(' ').append(body);
    return line.toString();
  }
}
