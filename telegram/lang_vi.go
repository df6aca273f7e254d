package telegram

import "github.com/liqbox/liqbox/event"

func init() {
	register(&texts{
		Code:          "vi",
		Name:          "Tiếng Việt",
		Liquidated:    [3]string{"Thanh lý (không rõ phía)", "LONG bị thanh lý", "SHORT bị thanh lý"},
		Sides:         [3]string{"KHÔNG RÕ", "LONG", "SHORT"},
		UnknownUSD:    "không rõ",
		At:            "giá",
		TimeLabel:     "thời gian",
		OnBoxLabel:    "xử lý",
		MuteButton:    "Tắt %s 1 giờ",
		ChartButton:   "Biểu đồ",
		DigestTitle:   "Chuỗi thanh lý: %d lệnh",
		DigestLongs:   "Long bị thanh lý",
		DigestShorts:  "Short bị thanh lý",
		DigestLargest: "Lớn nhất",
		DigestSpan:    "Khoảng thời gian",
		DigestOpen:    "vẫn đang diễn ra, cập nhật mỗi giây",
		AnalysisLLM:   "Phân tích (mô hình %s)",
		AnalysisRules: "Phân tích (quy tắc, không dùng mô hình)",
		Reasons: map[string]string{
			event.ReasonDisabled:    "mô hình đang tắt",
			event.ReasonKeyRejected: "API của mô hình từ chối khóa",
			event.ReasonBudget:      "đã chạm hạn mức token hoặc chi phí",
			event.ReasonRateLimited: "API của mô hình yêu cầu chờ",
			event.ReasonCircuitOpen: "mô hình lỗi nhiều lần nên tạm dừng",
			event.ReasonUnavailable: "mô hình không trả lời",
			event.ReasonEmpty:       "mô hình trả lời rỗng",
			event.ReasonUnusable:    "câu trả lời của mô hình không dùng được",
			event.ReasonBacklog:     "mô hình đang bận với các cảnh báo mới hơn",
			event.ReasonShutdown:    "máy dừng trước khi mô hình trả lời",
		},
		Risk:          [4]string{"rủi ro không rõ", "rủi ro THẤP", "rủi ro TRUNG BÌNH", "rủi ro CAO"},
		Recommend:     "Khuyến nghị",
		AnalysesTitle: "Phân tích %d cảnh báo gần nhất",
		Replayed:      "Gửi lại sau khi khởi động lại",
		Late:          "trễ %s",
		ReplayedLog:   "Phát lại từ nhật ký",
		Ago:           "%s trước",
		LimitWait:     "chờ giới hạn của Telegram",
		DigestReplays: "%d lệnh phát lại từ nhật ký",
		UnitSec:       "giây",
		UnitMin:       "phút",
		UnitHour:      "giờ",

		Help: `<b>liqbox</b> báo các lệnh thanh lý lớn.
/start — đăng ký nhóm/chat này
/stop — hủy đăng ký
/setthreshold 250k — ngưỡng USD tối thiểu (hoặc 250000, 1.5m, $2M)
/symbols — xem bộ lọc; /symbols BTCUSDT ETH — đặt (ETH khớp mọi thị trường ETH); /symbols all — bỏ lọc
/side long|short|both
/venues — xem; /venues binance-usdm bybit — đặt; /venues all — bỏ lọc
/mute BTCUSDT 1h — /unmute BTCUSDT — /mutes
/stats [1h|24h|7d] — số lệnh, khối lượng, độ trễ
/top [1h|24h|7d] — các lệnh thanh lý lớn nhất
/chart [1h|24h] [SYMBOL] — biểu đồ USD bị thanh lý
/status — sàn, hàng đợi, ổ đĩa, phân tích, phiên bản
/cost — chi phí LLM
/lang en|vi — ngôn ngữ`,
		Started:        "Đã đăng ký. Báo từ %s.",
		Stopped:        "Đã hủy đăng ký. Gõ /start để tiếp tục.",
		NotAllowed:     "Không được phép.",
		UnknownCmd:     "Lệnh không hợp lệ. Gõ /help để xem danh sách.",
		ThresholdSet:   "Đã đặt ngưỡng %s.",
		ThresholdUsage: "Cách dùng: /setthreshold 250k (hoặc 250000, 1.5m, $2M; từ $1 đến $10B)",
		SymbolsAll:     "Mã: tất cả.",
		SymbolsShow:    "Mã: %s.",
		SymbolsUsage:   "Cách dùng: /symbols BTCUSDT ETH, hoặc /symbols all",
		SideSet:        "Phía: %s.",
		SideUsage:      "Cách dùng: /side long|short|both",
		VenuesAll:      "Sàn: tất cả.",
		VenuesShow:     "Sàn: %s.",
		VenuesUsage:    "Cách dùng: /venues %s, hoặc /venues all",
		MuteSet:        "Đã tắt %s đến %s.",
		MuteUsage:      "Cách dùng: /mute BTCUSDT 1h (30m, 2h, 1d; tối đa 30d)",
		Unmuted:        "Đã bật lại %s.",
		NotMuted:       "%s không bị tắt.",
		MutesNone:      "Không có mã nào bị tắt.",
		MutesHeader:    "Đang tắt:",
		StatsUsage:     "Cách dùng: /stats [1h|24h|7d]",
		StatsTitle:     "Thống kê %s gần nhất",
		StatsNone:      "Không có lệnh thanh lý nào trong khoảng này.",
		StatsLatency:   "Độ trễ",
		StatsColumns:   "tb/p50/p95/p99/tối đa",
		StatsExchBox:   "sàn→máy",
		StatsBoxTG:     "máy→Telegram",
		StatsLongs:     "long",
		StatsShorts:    "short",
		TopUsage:       "Cách dùng: /top [1h|24h|7d]",
		TopTitle:       "Thanh lý lớn nhất, %s gần nhất",
		ChartUsage:     "Cách dùng: /chart [1h|24h] [SYMBOL]",
		ChartCaption:   "USD bị thanh lý, %s gần nhất, %s",
		ChartAll:       "mọi mã",
		NoHistory:      "Không đọc được nhật ký sự kiện.",
		NoStatus:       "Không có thông tin trạng thái.",
		NoCost:         "Không có số liệu chi phí.",
		LangSet:        "Ngôn ngữ: Tiếng Việt.",
		LangUsage:      "Cách dùng: /lang %s",
		StatusTitle:    "Trạng thái",
		StatusVenue:    "%s: %d/%d kết nối, khung cuối %s trước, %d lần gián đoạn trong 24 giờ",
		StatusNoFrame:  "%s: %d/%d kết nối, chưa có khung nào, %d lần gián đoạn trong 24 giờ",
		StatusBlind:    "⚠️ %s %s mất tín hiệu từ %s UTC, đã %s (%s)",
		StatusDecode:   "⚠️ %s %s: %d/%d khung không giải mã được trong phút qua (%.1f %%)",
		StatusSource:   "⚡ %s so với relay: trực tiếp đến trước %d (dẫn p50 %s, p99 %s), relay đến trước %d (p50 %s, p99 %s); lệch chiều %d, usd %d, giá %d",
		StatusRing:     "Hàng đợi: %d/%d, bỏ %d",
		StatusDisk:     "Ổ đĩa: dùng %s, giới hạn %s",
		StatusEnrich:   "Phân tích: %s",
		StatusClock:    "Lệch đồng hồ so với sàn: %s (ngưỡng %s)",
		StatusClockBad: "⚠️ Lệch đồng hồ so với sàn: %s, vượt ngưỡng %s: độ trễ sàn→máy không đáng tin; hãy kiểm tra NTP",
		StatusVersion:  "Phiên bản %s, chạy %s",
		CallbackMuted:  "Đã tắt %s 1 giờ",
		CallbackBad:    "Nút không hợp lệ.",
		Failed:         "Xin lỗi, không thực hiện được. Thử lại sau.",
	})
}
